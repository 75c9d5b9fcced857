// What an attribute is, for display: label, unit, precision, value kind and chart, from the
// one catalogue the server defines (server/internal/attrcatalog, generated into
// $lib/gen/attributes.ts). Every page asks here instead of guessing from ids.
import {
	attributeIds,
	attributeTypes,
	type AttributeChart,
	type AttributeField,
	type AttributeKind,
	type AttributeType
} from '$lib/gen/attributes';
import { titleFromId } from '$lib/format/format';

export type { AttributeChart, AttributeField, AttributeKind, AttributeType };

/** An attribute as the app shows it. */
export interface AttributeInfo {
	/** The attribute id within its sensor. */
	id: string;
	/** The catalogue type id ("heartrate"), or the sensor's own type when unknown. */
	type: string;
	/** Display label, e.g. "Heart rate". */
	label: string;
	/** Unit: the sensor's declared one, else the catalogue's ("" for none). */
	unit: string;
	/** Decimals to show; undefined: about three significant digits. */
	precision: number | undefined;
	kind: AttributeKind;
	chart: AttributeChart;
	category: string;
	/** Parts of a multi-value reading, in display order. */
	fields: readonly AttributeField[];
	/** Whether the catalogue knows the type. */
	known: boolean;
}

const byName = new Map<string, AttributeType>();
for (const t of attributeTypes) {
	byName.set(t.id, t);
	for (const a of t.aliases) if (!byName.has(a)) byName.set(a, t);
}
const byAttributeId = new Map(attributeIds.map((a) => [a.id, a]));

/** The catalogue type of a type name or alias ("hr" → heartrate), if known. */
export function attributeType(name: string): AttributeType | undefined {
	return byName.get(name);
}

/** The attribute fields the app reads from a sensor's attribute (or a live one). */
export interface AttributeLike {
	attributeId: string;
	attributeType?: string;
	unit?: string;
	sampleRateHz?: number;
}

/** Uniformly sampled rates at or above this are drawn as waveforms whatever their type. */
const WAVE_RATE_HZ = 20;

/**
 * Describes an attribute. The label comes from a well-known id ("blood_pressure_sys"), else
 * the type its id names ("hr" → "Heart rate"), else its declared type's label with the id as
 * a readable title ("ECG (Lead ii)"); kind, chart and unit come from the declared type,
 * else from the type the id names.
 */
export function describeAttribute(a: AttributeLike): AttributeInfo {
	const special = byAttributeId.get(a.attributeId);
	const declared = a.attributeType ? byName.get(a.attributeType) : undefined;
	const fromId = byName.get(a.attributeId);
	const t = special ? byName.get(special.type) : (declared ?? fromId);
	const label =
		special?.label ??
		fromId?.label ??
		(t ? `${t.label} (${titleFromId(a.attributeId)})` : titleFromId(a.attributeId));
	const rate = a.sampleRateHz ?? 0;
	let chart: AttributeChart = t?.chart ?? 'sparkline';
	const kind: AttributeKind = t?.kind ?? 'number';
	if (rate >= WAVE_RATE_HZ && (kind === 'number' || kind === 'waveform')) chart = 'waveform';
	return {
		id: a.attributeId,
		type: t?.id ?? (a.attributeType || a.attributeId),
		label,
		unit: a.unit || special?.unit || t?.unit || '',
		precision: special ? special.precision : t && t.id !== 'numeric' ? t.precision : undefined,
		kind,
		chart,
		category: t?.category ?? 'other',
		fields: t?.fields ?? [],
		known: !!t
	};
}

/** Whether an attribute is drawn as a scrolling waveform (given its live rate, when known). */
export function isWaveform(info: AttributeInfo, liveRateHz = 0): boolean {
	return (
		info.chart === 'waveform' ||
		(liveRateHz >= WAVE_RATE_HZ && (info.kind === 'number' || info.kind === 'waveform'))
	);
}

/** The label of an attribute id of a type: the short form of describeAttribute. */
export function attributeLabel(attributeId: string, attributeType = ''): string {
	return describeAttribute({ attributeId, attributeType }).label;
}

/** Type ids (with aliases) of a category or of the given type ids, for lens selection. */
export function typeNames(...types: string[]): string[] {
	const out = new Set<string>();
	for (const name of types) {
		const t = byName.get(name);
		out.add(name);
		if (t) {
			out.add(t.id);
			for (const a of t.aliases) out.add(a);
		}
	}
	return [...out];
}
