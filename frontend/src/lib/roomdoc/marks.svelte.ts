// The room document's annotations for the sensor charts of the room page: RoomShell
// provides a RoomMarks by context, RoomDocMount feeds it the synced document, and each
// SensorTile asks it for its sensor's marks (TileChart draws them). Outside a room (the
// lobby) there is none and the charts draw no marks.
import { getContext, hasContext, setContext } from 'svelte';
import { annotationsFor, type Marker } from './annotations';
import type { RoomDoc } from './sync';

const key = Symbol('room-marks');
const none: Marker[] = [];

export class RoomMarks {
	/** The room's document as last synced (or undefined before the first sync). */
	doc = $state.raw<Partial<RoomDoc> | undefined>(undefined);

	// The answers for the current doc: the same array while the doc is unchanged, so a
	// tile re-rendered with every sample does not hand its chart new marks each time.
	#cached: Partial<RoomDoc> | undefined;
	// A plain cache, not state: the answers depend on `doc`, which is the state read.
	// eslint-disable-next-line svelte/prefer-svelte-reactivity
	#cache = new Map<string, Marker[]>();

	/** The annotations pinned to sensorId (and attributeId, or to no attribute). */
	for(sensorId: string, attributeId?: string): Marker[] {
		const doc = this.doc;
		if (doc !== this.#cached) {
			this.#cached = doc;
			this.#cache.clear();
		}
		const k = sensorId + '\n' + (attributeId ?? '');
		let m = this.#cache.get(k);
		if (!m) {
			m = annotationsFor(doc, sensorId, attributeId);
			if (m.length === 0) m = none;
			this.#cache.set(k, m);
		}
		return m;
	}
}

export function setRoomMarks(m: RoomMarks): RoomMarks {
	setContext(key, m);
	return m;
}

/** The room's marks, or undefined outside a room. */
export function getRoomMarks(): RoomMarks | undefined {
	return hasContext(key) ? getContext<RoomMarks>(key) : undefined;
}
