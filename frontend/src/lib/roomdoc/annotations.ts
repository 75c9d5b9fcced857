// Annotations of the room document for one sensor's charts: the time ranges to mark.
import { str, type RoomDoc } from './sync';

export interface Marker {
	id: string;
	from: number;
	to: number;
	text: string;
	attributeId: string;
}

/** Returns the annotations pinned to sensorId (and, when given, to attributeId or to none). */
export function annotationsFor(
	doc: Partial<RoomDoc> | undefined,
	sensorId: string,
	attributeId?: string
): Marker[] {
	return (doc?.annotations ?? [])
		.filter(
			(a) =>
				str(a.sensorId) === sensorId &&
				(attributeId === undefined || !str(a.attributeId) || str(a.attributeId) === attributeId)
		)
		.map((a) => ({
			id: str(a.id),
			from: a.from,
			to: a.to,
			text: str(a.text),
			attributeId: str(a.attributeId)
		}))
		.sort((x, y) => x.from - y.from);
}
