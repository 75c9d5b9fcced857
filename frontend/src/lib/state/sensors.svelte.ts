// SensorsStore lists the sensors the caller may see (SensorService.ListSensors, all
// pages), refreshes the list now and then (new sensors appear without a reload), and
// applies the events a Watch stream reports (UPDATED, CONNECTED, DISCONNECTED, REMOVED,
// ATTENTION) so tiles show fresh names, connection state and attention.
import type { Client } from '@connectrpc/connect';
import { createContext, untrack } from 'svelte';
import { AttentionLevel } from '$lib/gen/sensocto/v1/common_pb';
import {
	SensorEventKind,
	type Sensor,
	type SensorEvent,
	type SensorService
} from '$lib/gen/sensocto/v1/sensor_pb';
import { describeError } from '$lib/api/errors';

export interface SensorsOptions {
	/** Re-list every this many ms (0: never). */
	refreshMs?: number;
	/**
	 * false: never call ListSensors; the owner feeds the list with replace() (a room's
	 * sensors come with its WatchRoom stream).
	 */
	list?: boolean;
}

export class SensorsStore {
	/** Sensors by id; each value replaced wholesale on change. */
	byId: Record<string, Sensor> = $state({});
	/** loading before the first answer. */
	status = $state<'idle' | 'loading' | 'ready' | 'error'>('idle');
	error = $state<string | undefined>(undefined);
	/** Attention level per sensor, from WatchAttention or events (overrides sensor.attentionLevel). */
	attention: Record<string, AttentionLevel> = $state({});

	/** All sensors, by name. */
	list = $derived(
		Object.values(this.byId).sort(
			(a, b) =>
				(a.name || a.sensorId).localeCompare(b.name || b.sensorId) ||
				a.sensorId.localeCompare(b.sensorId)
		)
	);

	readonly #client: Client<typeof SensorService>;
	readonly #refreshMs: number;
	readonly #list: boolean;
	#timer: ReturnType<typeof setInterval> | undefined;
	#loading: Promise<void> | undefined;

	constructor(client: Client<typeof SensorService>, options: SensorsOptions = {}) {
		this.#client = client;
		this.#refreshMs = options.refreshMs ?? 10_000;
		this.#list = options.list ?? true;
	}

	/** Loads now and then every refreshMs, until stop (nothing for a fed store). */
	start(): void {
		if (this.#timer || !this.#list) return;
		untrack(() => void this.load());
		if (this.#refreshMs > 0) this.#timer = setInterval(() => void this.load(), this.#refreshMs);
	}

	stop(): void {
		clearInterval(this.#timer);
		this.#timer = undefined;
	}

	/** Lists every page of sensors; sensors gone from the list are removed. */
	load(): Promise<void> {
		this.#loading ??= this.#load().finally(() => (this.#loading = undefined));
		return this.#loading;
	}

	async #load(): Promise<void> {
		if (this.status === 'idle') this.status = 'loading';
		try {
			const all: Record<string, Sensor> = {};
			let pageToken = '';
			for (let i = 0; i < 50; i++) {
				const res = await this.#client.listSensors({ pageSize: 500, pageToken });
				for (const s of res.sensors) all[s.sensorId] = s;
				pageToken = res.nextPageToken;
				if (!pageToken) break;
			}
			this.replace(Object.values(all));
		} catch (err) {
			this.error = describeError(err);
			if (this.status !== 'ready') this.status = 'error';
		}
	}

	/** The attention level to show for a sensor. */
	levelOf(id: string): AttentionLevel {
		return this.attention[id] ?? this.byId[id]?.attentionLevel ?? AttentionLevel.UNSPECIFIED;
	}

	/** Applies a Watch event. */
	applyEvent(ev: SensorEvent): void {
		const s = ev.sensor;
		if (!s) return;
		// A fed list decides its members itself: events only refresh them.
		if (!this.#list && !(s.sensorId in this.byId)) return;
		switch (ev.kind) {
			case SensorEventKind.REMOVED:
				delete this.byId[s.sensorId];
				delete this.attention[s.sensorId];
				return;
			case SensorEventKind.ATTENTION:
				this.attention[s.sensorId] = s.attentionLevel;
				break;
		}
		if (s.name || s.attributes.length > 0 || s.ownerId) {
			this.byId[s.sensorId] = s;
		} else if (this.byId[s.sensorId] && ev.kind === SensorEventKind.CONNECTED) {
			this.byId[s.sensorId] = { ...this.byId[s.sensorId], connected: true };
		} else if (this.byId[s.sensorId] && ev.kind === SensorEventKind.DISCONNECTED) {
			this.byId[s.sensorId] = { ...this.byId[s.sensorId], connected: false };
		}
	}

	/** Replaces the whole list (a fed store): sensors not in it are removed. */
	replace(list: Iterable<Sensor>): void {
		const all: Record<string, Sensor> = {};
		for (const s of list) all[s.sensorId] = s;
		for (const id of Object.keys(this.byId)) if (!(id in all)) delete this.byId[id];
		for (const [id, s] of Object.entries(all)) {
			const old = this.byId[id];
			if (!old || !sameSensor(old, s)) this.byId[id] = s;
		}
		this.status = 'ready';
		this.error = undefined;
	}

	/** Replaces one sensor (after UpdateSensor, SetRecording). */
	put(s: Sensor): void {
		this.byId[s.sensorId] = s;
	}
}

function sameSensor(a: Sensor, b: Sensor): boolean {
	return (
		a.name === b.name &&
		a.connected === b.connected &&
		a.recording === b.recording &&
		a.attentionLevel === b.attentionLevel &&
		a.visibility === b.visibility &&
		a.attributes.length === b.attributes.length &&
		a.attributes.every(
			(x, i) =>
				x.attributeId === b.attributes[i].attributeId &&
				x.attributeType === b.attributes[i].attributeType
		)
	);
}

/** Words for an attention level. */
export function levelName(level: AttentionLevel): string {
	switch (level) {
		case AttentionLevel.HIGH:
			return 'High';
		case AttentionLevel.MEDIUM:
			return 'Medium';
		case AttentionLevel.LOW:
			return 'Low';
		default:
			return 'None';
	}
}

const [getSensorsContext, setSensorsContext] = createContext<SensorsStore>();
export { getSensorsContext as getSensors, setSensorsContext as setSensors };
