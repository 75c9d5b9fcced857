// The live data of watched sensors, outside Svelte's reactivity: typed-array ring buffers
// per attribute (Series) plus the latest structured value (vector, quaternion, position,
// text). The watch store merges every delivery into it and bumps one reactive counter
// per sensor, so a tile re-renders its text at most once per delivery and charts redraw
// from the buffers on the next animation frame.
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import type {
	GeoPosition,
	Measurement,
	Quaternion,
	SampleBlock,
	Vector3
} from '$lib/gen/sensocto/v1/common_pb';
import { Series } from '$lib/charts/series';

/** How many values a buffer keeps, by attribute type (waveforms hold ~30 s at 250 Hz). */
export function capacityFor(attributeType: string, rateHz = 0): number {
	if (rateHz > 0) return Math.min(32_768, Math.max(1024, Math.ceil(rateHz * 35)));
	switch (attributeType) {
		case 'ecg':
			return 8192;
		case 'respiration':
		case 'ppg':
			return 4096;
		default:
			return 1024;
	}
}

export type Latest =
	| { kind: 'number'; value: number }
	| { kind: 'vector3'; value: Vector3 }
	| { kind: 'quaternion'; value: Quaternion }
	| { kind: 'geo'; value: GeoPosition }
	| { kind: 'text'; value: string }
	| { kind: 'struct'; value: JsonObject };

/** A point of a position trail. */
export interface TrailPoint {
	t: number;
	lat: number;
	lng: number;
}

const TRAIL_MAX = 200;

/** Live state of one attribute. */
export class LiveAttribute {
	readonly id: string;
	type: string;
	/** Numeric values (numbers, waveform samples, a struct's main number, a vector's norm). */
	series: Series;
	/** Per-axis buffers for vector values (x, y, z), created on first vector. */
	axes: [Series, Series, Series] | undefined;
	latest: Latest | undefined;
	/** Time of the latest value, seconds since the epoch. */
	latestTime = NaN;
	/** Position trail for geo values, oldest first. */
	trail: TrailPoint[] = [];
	/** The latest three-axis value (a vector3, or an IMU struct's accelerometer). */
	vector: { x: number; y: number; z: number } | undefined;
	/**
	 * Per-axis buffers of the other three-axis members of a struct value, by key: an IMU
	 * struct {accelerometer, gyroscope} keeps its gyroscope here (the accelerometer is
	 * axes). Created on first use.
	 */
	readonly parts = new Map<string, [Series, Series, Series]>();
	/**
	 * x and y buffers of a point on a plane (a gaze point {x, y, confidence}: a struct
	 * with numbers x and y and no z), created on the first such value.
	 */
	plane: [Series, Series] | undefined;
	/** Extras of the latest measurement (e.g. a button's event). */
	extras: Record<string, string> = {};

	constructor(id: string, type: string, rateHz = 0) {
		this.id = id;
		this.type = type;
		this.series = new Series(capacityFor(type, rateHz));
	}

	/** The main number of the latest value, NaN when it has none. */
	get value(): number {
		return this.series.lastValue;
	}

	#addVector(t: number, v: { x: number; y: number; z: number }): void {
		if (!this.axes) {
			const c = this.series.capacity;
			this.axes = [new Series(c), new Series(c), new Series(c)];
		}
		this.axes[0].push(t, v.x);
		this.axes[1].push(t, v.y);
		this.axes[2].push(t, v.z);
		this.series.push(t, Math.hypot(v.x, v.y, v.z));
		this.vector = { x: v.x, y: v.y, z: v.z };
	}

	#addPart(key: string, t: number, v: { x: number; y: number; z: number }): void {
		let axes = this.parts.get(key);
		if (!axes) {
			const c = this.series.capacity;
			axes = [new Series(c), new Series(c), new Series(c)];
			this.parts.set(key, axes);
		}
		axes[0].push(t, v.x);
		axes[1].push(t, v.y);
		axes[2].push(t, v.z);
	}

	#addPoint(t: number, p: { x: number; y: number }): void {
		if (!this.plane) {
			const c = this.series.capacity;
			this.plane = [new Series(c), new Series(c)];
		}
		this.plane[0].push(t, p.x);
		this.plane[1].push(t, p.y);
	}

	addBlock(b: SampleBlock): void {
		const start = Number(b.startTimeUs) / 1e6;
		if (
			this.series.rateHz === 0 &&
			this.series.length === 0 &&
			this.series.capacity < b.sampleRateHz * 30
		) {
			this.series = new Series(capacityFor(this.type, b.sampleRateHz));
		}
		if (this.series.pushBlock(start, b.sampleRateHz, b.samples) > 0) {
			this.latestTime = this.series.lastTime;
			this.latest = { kind: 'number', value: this.series.lastValue };
		}
	}

	addMeasurement(m: Measurement): void {
		const t = Number(m.timeUs || m.serverTimeUs) / 1e6;
		if (Number.isFinite(this.latestTime) && t < this.latestTime) return;
		const v = m.value;
		switch (v.case) {
			case 'number':
				this.series.push(t, v.value);
				this.latest = { kind: 'number', value: v.value };
				break;
			case 'vector3':
				this.#addVector(t, v.value);
				this.latest = { kind: 'vector3', value: v.value };
				break;
			case 'quaternion':
				this.series.push(t, v.value.w);
				this.latest = { kind: 'quaternion', value: v.value };
				break;
			case 'geo': {
				const g = v.value;
				this.latest = { kind: 'geo', value: g };
				const last = this.trail[this.trail.length - 1];
				if (!last || last.lat !== g.latitude || last.lng !== g.longitude) {
					this.trail.push({ t, lat: g.latitude, lng: g.longitude });
					if (this.trail.length > TRAIL_MAX) this.trail.splice(0, this.trail.length - TRAIL_MAX);
				}
				if (g.speedMps !== undefined) this.series.push(t, g.speedMps);
				break;
			}
			case 'text':
				this.latest = { kind: 'text', value: v.value };
				break;
			case 'structValue': {
				this.latest = { kind: 'struct', value: v.value };
				const accKey = xyz(v.value.accelerometer)
					? 'accelerometer'
					: xyz(v.value.acceleration)
						? 'acceleration'
						: undefined;
				const acc = accKey ? xyz(v.value[accKey]) : undefined;
				if (acc) {
					for (const [k, part] of Object.entries(v.value)) {
						const p = k === accKey ? undefined : xyz(part);
						if (p) this.#addPart(k, t, p);
					}
				}
				const pt = xy(v.value);
				const n = mainNumber(v.value);
				if (acc) this.#addVector(t, acc);
				else if (pt) this.#addPoint(t, pt);
				else if (n !== undefined) this.series.push(t, n);
				break;
			}
			default:
				return;
		}
		this.extras = m.extras;
		this.latestTime = t;
	}
}

/** {x, y, z} numbers of a JSON value, or undefined. */
export function xyz(v: JsonValue | undefined): { x: number; y: number; z: number } | undefined {
	if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
	const { x, y, z } = v;
	return typeof x === 'number' && typeof y === 'number' && typeof z === 'number'
		? { x, y, z }
		: undefined;
}

/** {x, y} numbers of a struct without z (a point on a plane: a gaze point), or undefined. */
export function xy(o: JsonObject): { x: number; y: number } | undefined {
	const { x, y, z } = o;
	return typeof x === 'number' && typeof y === 'number' && z === undefined ? { x, y } : undefined;
}

/** The number a struct value is mostly about: level, bpm, rmssd, value… or its first number. */
export function mainNumber(o: JsonObject): number | undefined {
	for (const k of ['level', 'bpm', 'heartRate', 'rmssd', 'value', 'percent']) {
		const v = o[k];
		if (typeof v === 'number' && Number.isFinite(v)) return v;
	}
	for (const v of Object.values(o)) {
		if (typeof v === 'number' && Number.isFinite(v)) return v;
	}
	return undefined;
}

/**
 * Formats a struct value briefly, its main number first: battery {level 80, charging
 * true} → "80 · charging"; hrv {rmssd 42, sdnn 50} → "42 · sdnn 50".
 */
export function formatStruct(o: JsonObject, max = 3, unit = ''): string {
	const parts: string[] = [];
	const main = mainKey(o);
	if (main) parts.push(short(o[main]) + (unit ? ` ${unit}` : ''));
	for (const [k, v] of Object.entries(o)) {
		if (parts.length >= max) break;
		if (k === main) continue;
		if (typeof v === 'boolean') {
			if (v) parts.push(k);
			continue;
		}
		if (v === 'yes' || v === 'no') {
			if (v === 'yes') parts.push(k);
			continue;
		}
		parts.push(`${k} ${short(v)}`);
	}
	return parts.join(' · ');
}

function mainKey(o: JsonObject): string | undefined {
	for (const k of ['level', 'bpm', 'heartRate', 'rmssd', 'value', 'percent']) {
		if (typeof o[k] === 'number') return k;
	}
	return undefined;
}

function short(v: JsonValue): string {
	if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
	if (typeof v === 'string') return v.length > 24 ? v.slice(0, 23) + '…' : v;
	if (typeof v === 'boolean' || v === null) return String(v);
	const p = xyz(v);
	if (p) return `${p.x.toFixed(1)}, ${p.y.toFixed(1)}, ${p.z.toFixed(1)}`;
	return Array.isArray(v) ? `[${v.length}]` : '{…}';
}

/** Live state of one sensor: its attributes by id. */
export class LiveSensor {
	readonly id: string;
	readonly attributes = new Map<string, LiveAttribute>();
	/** When data last arrived for it (browser clock, ms). */
	receivedAt = 0;

	constructor(id: string) {
		this.id = id;
	}

	attribute(id: string, type = '', rateHz = 0): LiveAttribute {
		let a = this.attributes.get(id);
		if (!a) {
			a = new LiveAttribute(id, type || id, rateHz);
			this.attributes.set(id, a);
		} else if (type && a.type !== type) {
			a.type = type;
		}
		return a;
	}
}
