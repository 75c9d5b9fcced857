// A live value as text, by the catalogue: numbers with the type's precision and unit, and
// multi-value readings (x/y/z, w/x/y/z, latitude/longitude, rmssd/sdnn, level/charging…) in
// the catalogue's fixed field order, whatever order the keys arrived in.
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import type { Latest } from '$lib/state/watch-model';
import { formatNumber, formatQuantity, plural, withUnit } from '$lib/format/format';
import type { AttributeField, AttributeInfo } from './catalogue';

export interface ReadingOptions {
	/** Values only, no field labels, at most this many parts (tiles). */
	compact?: boolean;
	/** At most this many parts (default: 3 compact, 6 otherwise). */
	max?: number;
}

const xyzFields: AttributeField[] = ['x', 'y', 'z'].map((k) => ({
	key: k,
	label: k,
	unit: '',
	precision: 2
}));
const quatFields: AttributeField[] = ['w', 'x', 'y', 'z'].map((k) => ({
	key: k,
	label: k,
	unit: '',
	precision: 3
}));

/**
 * Joins the axes of a vector: compact "0.12, 0.30, 9.81 m/s²" (the shared unit once), else
 * "x 0.12 · y 0.30 · z 9.81 m/s²".
 */
function joinParts(parts: { label: string; text: string; unit: string }[], compact: boolean) {
	if (parts.length === 0) return '–';
	const shared = new Set(parts.map((p) => p.unit)).size === 1 ? parts[0].unit : undefined;
	const one = (p: { text: string; unit: string }) =>
		shared !== undefined ? p.text : withUnit(p.text, p.unit);
	const body = compact
		? parts.map(one).join(', ')
		: parts.map((p) => `${p.label} ${one(p)}`).join(' · ');
	return shared ? withUnit(body, shared) : body;
}

/** Numbers of an object in a field order, then (not compact) the remaining keys. */
function structParts(
	o: JsonObject,
	fields: readonly AttributeField[],
	precision: number | undefined,
	unit: string,
	max: number
) {
	const parts: { label: string; text: string; unit: string }[] = [];
	const flags: string[] = [];
	const seen = new Set<string>();
	const add = (key: string, v: JsonValue, f?: AttributeField) => {
		seen.add(key);
		if (parts.length >= max) return;
		const label = f?.label ?? key;
		if (typeof v === 'number') {
			parts.push({
				label,
				text: formatNumber(v, f ? f.precision : precision),
				unit: f?.unit ?? ''
			});
		} else if (typeof v === 'boolean' || v === 'yes' || v === 'no') {
			if (v === true || v === 'yes') flags.push(label);
		} else if (typeof v === 'string') {
			parts.push({ label, text: v.length > 24 ? v.slice(0, 23) + '…' : v, unit: '' });
		} else if (Array.isArray(v)) {
			parts.push({ label: '', text: plural(v.length, singular(key)), unit: '' });
		} else if (v && typeof v === 'object') {
			const inner = xyzParts(v, f?.unit ?? unit, f?.precision ?? precision);
			if (inner) parts.push({ label, text: inner, unit: '' });
		}
	};
	for (const f of fields) if (f.key in o) add(f.key, o[f.key], f);
	for (const [k, v] of Object.entries(o)) if (!seen.has(k)) add(k, v);
	// A lone number of a type without fields is in the attribute's unit.
	if (parts.length === 1 && !fields.length && !parts[0].unit && /\d/.test(parts[0].text))
		parts[0].unit = unit;
	return { parts, flags };
}

function singular(key: string): string {
	return key.endsWith('s') ? key.slice(0, -1) : key;
}

function xyzParts(v: JsonValue, unit: string, precision: number | undefined): string | undefined {
	if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
	const { x, y, z } = v;
	if (typeof x !== 'number' || typeof y !== 'number' || typeof z !== 'number') return undefined;
	const p = precision ?? 2;
	return withUnit([x, y, z].map((n) => formatNumber(n, p)).join(', '), unit);
}

/** Formats the latest value of an attribute for display. */
export function formatReading(
	info: AttributeInfo,
	l: Latest | undefined,
	opts: ReadingOptions = {}
): string {
	if (!l) return '–';
	const compact = !!opts.compact;
	const max = opts.max ?? (compact ? 3 : 6);
	switch (l.kind) {
		case 'number':
			return formatQuantity(l.value, info.unit, info.precision);
		case 'vector3': {
			const fields = info.fields.length === 3 ? info.fields : xyzFields;
			return joinParts(
				fields.map((f, i) => ({
					label: f.label,
					text: formatNumber([l.value.x, l.value.y, l.value.z][i], f.precision),
					unit: f.unit || info.unit
				})),
				compact
			);
		}
		case 'quaternion': {
			const fields = info.fields.length === 4 ? info.fields : quatFields;
			const q = l.value;
			const vals: Record<string, number> = { w: q.w, x: q.x, y: q.y, z: q.z };
			return joinParts(
				fields
					.slice(0, compact ? 4 : max)
					.map((f) => ({ label: f.label, text: formatNumber(vals[f.key], f.precision), unit: '' })),
				compact
			);
		}
		case 'geo': {
			const g = l.value;
			const vals: Record<string, number | undefined> = {
				latitude: g.latitude,
				longitude: g.longitude,
				altitude: g.altitudeM,
				accuracy: g.accuracyM,
				speed: g.speedMps,
				heading: g.headingDeg
			};
			const fields = info.fields.length
				? info.fields
				: (['latitude', 'longitude'].map((key) => ({
						key,
						label: key.slice(0, 3),
						unit: '°',
						precision: 5
					})) as AttributeField[]);
			const shown = fields.filter((f) => vals[f.key] !== undefined).slice(0, compact ? 2 : max);
			if (compact)
				return shown.map((f) => formatNumber(vals[f.key] as number, f.precision)).join(', ');
			return shown
				.map((f) =>
					f.label === '±'
						? `±${withUnit(formatNumber(vals[f.key] as number, f.precision), f.unit)}`
						: `${f.label} ${withUnit(formatNumber(vals[f.key] as number, f.precision), f.unit)}`
				)
				.join(' · ');
		}
		case 'text': {
			const cap = compact ? 28 : 200;
			return l.value.length > cap ? l.value.slice(0, cap - 1) + '…' : l.value;
		}
		case 'struct': {
			const { parts, flags } = structParts(l.value, info.fields, info.precision, info.unit, max);
			const texts =
				parts.length === 1
					? [withUnit(parts[0].text, parts[0].unit)]
					: parts.map((p) => `${p.label} ${withUnit(p.text, p.unit)}`.trim());
			return [...texts, ...flags].join(' · ') || '–';
		}
	}
}
