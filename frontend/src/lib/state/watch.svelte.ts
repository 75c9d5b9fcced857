/* eslint-disable svelte/prefer-svelte-reactivity -- plain Maps and Sets here are deliberate: bookkeeping and buffers that must not trigger renders; what the UI reads is in $state or SvelteSet. */
// WatchStore keeps one SensorService.Watch stream open for exactly the sensors a page
// shows. Pages tell it which sensors are on screen (setSensors); a change is debounced and
// then the stream is re-opened for the new set. Every delivery is merged into per-attribute
// typed-array ring buffers (watch-model.ts); one reactive counter per sensor is bumped so
// only that sensor's tile re-renders its text. With tickFps the counters of the sensors
// that received data are bumped together on the shared frame loop's beat (charts/frame.ts),
// at most tickFps times a second, so a page of tiles changes its text in the frames its
// charts draw, not in every frame a delivery happens to land in. The stream reconnects
// with backoff.
import type { Client } from '@connectrpc/connect';
import { MAX_WATCH_SENSORS } from '$lib/gen/limits';
import { untrack } from 'svelte';
import { createContext } from 'svelte';
import {
	SensorEventKind,
	type Sensor,
	type SensorEvent,
	type SensorService,
	type WatchResponse
} from '$lib/gen/sensocto/v1/sensor_pb';
import { keepOpen } from '$lib/api/reconnect';
import { onFrame } from '$lib/charts/frame';
import { LiveSensor } from './watch-model';

export type StreamState = 'idle' | 'connecting' | 'live' | 'reconnecting';

export interface WatchOptions {
	/** Wait this long after the last setSensors before re-subscribing (ms). */
	debounceMs?: number;
	minBackoffMs?: number;
	maxBackoffMs?: number;
	/**
	 * The tab id this page reports attention with: the server delivers each attribute
	 * at the window of this tab's own attention (empty: of all the user's tabs).
	 */
	tabId?: string;
	/**
	 * Bump the per-sensor change counters at most this often, on the frame loop's beats
	 * (0, the default: at once on every delivery; also without requestAnimationFrame).
	 */
	tickFps?: number;
}

/** The most sensors one Watch may name (the API's limit, generated from server/apirules). */
export const MAX_WATCH = MAX_WATCH_SENSORS;

export class WatchStore {
	state = $state<StreamState>('idle');
	error = $state<string | undefined>(undefined);
	retryInMs = $state(0);
	/** Values the server dropped for this watcher because it did not keep up. */
	dropped = $state(0);
	/** Deliveries received (a test and debugging aid). */
	deliveries = $state(0);
	/** The sensors the open stream covers, sorted. */
	subscribed = $state.raw<string[]>([]);
	/** How many times a stream was opened (a test aid: re-subscriptions). */
	opened = $state(0);

	/** Per-sensor change counter: read ticks[id] to re-render when that sensor's data moves. */
	readonly ticks: Record<string, number> = $state({});
	/** Live buffers by sensor id (not reactive; read with ticks[id]). */
	readonly live = new Map<string, LiveSensor>();

	readonly #client: Client<typeof SensorService>;
	readonly #debounceMs: number;
	readonly #minBackoffMs: number;
	readonly #maxBackoffMs: number;
	readonly #tabId: string;
	#wanted: string[] = [];
	#timer: ReturnType<typeof setTimeout> | undefined;
	#abort: AbortController | undefined;
	#started = false;
	#listeners = new Set<(ev: SensorEvent) => void>();
	readonly #tickFps: number;
	/** Sensors with data not yet counted in ticks (tickFps only). */
	#pending = new Set<string>();
	#offTicks: (() => void) | undefined;

	constructor(client: Client<typeof SensorService>, options: WatchOptions = {}) {
		this.#client = client;
		this.#debounceMs = options.debounceMs ?? 250;
		this.#minBackoffMs = options.minBackoffMs ?? 500;
		this.#maxBackoffMs = options.maxBackoffMs ?? 15_000;
		this.#tabId = options.tabId ?? '';
		this.#tickFps =
			options.tickFps && options.tickFps > 0 && typeof requestAnimationFrame !== 'undefined'
				? options.tickFps
				: 0;
	}

	#tick(id: string): void {
		if (this.#tickFps === 0) {
			this.ticks[id] = (this.ticks[id] ?? 0) + 1;
			return;
		}
		this.#pending.add(id);
		this.#offTicks ??= onFrame(() => this.#flushTicks(), { fps: this.#tickFps });
	}

	#flushTicks(): boolean {
		if (this.#pending.size === 0) {
			// Nothing arrived for a whole beat: leave the loop until something does.
			this.#offTicks?.();
			this.#offTicks = undefined;
			return false;
		}
		for (const id of this.#pending) this.ticks[id] = (this.ticks[id] ?? 0) + 1;
		this.#pending.clear();
		return true;
	}

	/** Live buffers of a sensor (created on first use). */
	sensor(id: string): LiveSensor {
		let s = this.live.get(id);
		if (!s) {
			s = new LiveSensor(id);
			this.live.set(id, s);
		}
		return s;
	}

	/** Records the attribute types and rates of sensors, so buffers are sized right. */
	describe(sensors: Iterable<Sensor>): void {
		for (const s of sensors) {
			const live = this.sensor(s.sensorId);
			for (const a of s.attributes) live.attribute(a.attributeId, a.attributeType, a.sampleRateHz);
		}
	}

	/** Calls fn for every sensor event (UPDATED, CONNECTED, REMOVED, ATTENTION…). */
	onEvent(fn: (ev: SensorEvent) => void): () => void {
		this.#listeners.add(fn);
		return () => this.#listeners.delete(fn);
	}

	/** Sets the sensors to watch; the stream follows after the debounce. */
	setSensors(ids: Iterable<string>): void {
		const next = [...new Set(ids)].sort().slice(0, MAX_WATCH);
		if (same(next, this.#wanted)) return;
		this.#wanted = next;
		if (!this.#started) return;
		clearTimeout(this.#timer);
		this.#timer = setTimeout(() => this.#resubscribe(), this.#debounceMs);
	}

	/** Starts following setSensors (once). */
	start(): void {
		if (this.#started) return;
		this.#started = true;
		untrack(() => this.#resubscribe());
	}

	/** Closes the stream and stops following. */
	stop(): void {
		this.#started = false;
		clearTimeout(this.#timer);
		this.#abort?.abort();
		this.#abort = undefined;
		this.state = 'idle';
		this.retryInMs = 0;
		this.subscribed = [];
		this.#offTicks?.();
		this.#offTicks = undefined;
		this.#pending.clear();
	}

	#resubscribe(): void {
		const ids = this.#wanted;
		if (same(ids, this.subscribed) && this.#abort) return;
		this.#abort?.abort();
		this.#abort = undefined;
		this.subscribed = ids;
		if (ids.length === 0) {
			this.state = 'idle';
			return;
		}
		const abort = new AbortController();
		this.#abort = abort;
		void this.#run(ids, abort.signal);
	}

	#run(ids: string[], signal: AbortSignal): Promise<void> {
		let received = false;
		return keepOpen(signal, {
			minBackoffMs: this.#minBackoffMs,
			maxBackoffMs: this.#maxBackoffMs,
			open: async (live, failures) => {
				this.state = received || failures > 0 ? 'reconnecting' : 'connecting';
				this.opened++;
				const stream = this.#client.watch({ sensorIds: ids, tabId: this.#tabId }, { signal });
				for await (const res of stream) {
					if (signal.aborted) return;
					this.apply(res);
					received = true;
					live();
					this.error = undefined;
					this.state = 'live';
				}
			},
			retrying: (why, delayMs) => {
				this.error = why;
				this.state = 'reconnecting';
				this.retryInMs = delayMs;
			},
			retried: () => (this.retryInMs = 0)
		});
	}

	/** Merges one delivery (public for tests and for pages that feed data themselves). */
	apply(res: WatchResponse): void {
		const now = Date.now();
		for (const d of res.data) {
			const live = this.sensor(d.sensorId);
			let newest = 0; // ms, server clock where the server stamped it
			for (const b of d.blocks) {
				live.attribute(b.attributeId).addBlock(b);
				const last =
					Number(b.startTimeUs) / 1000 + ((b.samples.length - 1) / b.sampleRateHz) * 1000;
				newest = Math.max(newest, b.serverTimeUs ? Number(b.serverTimeUs) / 1000 : last);
			}
			for (const m of d.measurements) {
				live.attribute(m.attributeId).addMeasurement(m);
				newest = Math.max(newest, Number(m.serverTimeUs || m.timeUs) / 1000);
			}
			// The replayed recent window is as fresh as its newest sample, not as its arrival:
			// a sensor that died a minute ago must not show "streaming" after every page load.
			// Live deliveries count from arrival (device clocks may be off).
			const at = res.recent ? Math.min(now, newest) : now;
			if (at > live.receivedAt) live.receivedAt = at;
			this.#tick(d.sensorId);
		}
		if (res.dropped > 0n) this.dropped += Number(res.dropped);
		for (const ev of res.events) {
			if (ev.kind === SensorEventKind.UPDATED && ev.sensor) this.describe([ev.sensor]);
			if (ev.kind === SensorEventKind.REMOVED && ev.sensor) {
				this.live.delete(ev.sensor.sensorId);
				this.#pending.delete(ev.sensor.sensorId);
				delete this.ticks[ev.sensor.sensorId];
			}
			for (const fn of this.#listeners) fn(ev);
		}
		this.deliveries++;
	}
}

function same(a: readonly string[], b: readonly string[]): boolean {
	return a.length === b.length && a.every((x, i) => x === b[i]);
}

const [getWatchContext, setWatchContext] = createContext<WatchStore>();
export { getWatchContext as getWatch, setWatchContext as setWatch };
