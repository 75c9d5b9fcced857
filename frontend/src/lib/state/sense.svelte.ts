/* eslint-disable svelte/prefer-svelte-reactivity -- plain Maps and Sets here are deliberate: bookkeeping and buffers that must not trigger renders; what the UI reads is in $state or SvelteSet. */
// SensePublisher streams this browser's own measurements to the server as one sensor:
// RegisterSensor (again whenever an attribute is added), then Publish in batches that
// follow the server's back-pressure (WatchBackpressure, opened only once the sensor is
// registered: batch window, batch size, pause).
// Measurements wait in a bounded local queue (oldest dropped beyond maxQueue or older
// than maxAgeMs) that survives short disconnections: a failed Publish puts the batch
// back and retries with backoff.
import { create } from '@bufbuild/protobuf';
import { Code, type Client } from '@connectrpc/connect';
import { untrack } from 'svelte';
import {
	AttributeSchema,
	SensorService,
	Visibility,
	type Attribute
} from '$lib/gen/sensocto/v1/sensor_pb';
import {
	AttentionLevel,
	MeasurementSchema,
	type BackpressureConfig,
	type Measurement
} from '$lib/gen/sensocto/v1/common_pb';
import { describeError, hasCode, isAbort } from '$lib/api/errors';
import { sleep } from '$lib/api/reconnect';

export interface PublisherOptions {
	sensorId: string;
	name: string;
	sensorType?: string;
	visibility?: Visibility;
	maxQueue?: number;
	maxAgeMs?: number;
	minBackoffMs?: number;
	maxBackoffMs?: number;
}

export type PublisherState = 'idle' | 'registering' | 'live' | 'offline';

/** A measurement value, as the generated Measurement's oneof. */
export type MeasurementValue = Measurement['value'];

interface Queued {
	m: Measurement;
	/** Browser time it was queued (ms), for the age limit. */
	at: number;
}

export class SensePublisher {
	state = $state<PublisherState>('idle');
	error = $state<string | undefined>(undefined);
	/** The latest back-pressure config. */
	config = $state.raw<BackpressureConfig | undefined>(undefined);
	/** Measurements waiting to be sent. */
	queued = $state(0);
	/** Measurements accepted by the server. */
	sent = $state(0);
	/** Measurements dropped locally (queue full or too old). */
	dropped = $state(0);
	/** Batches published (a test aid). */
	batches = $state(0);

	readonly sensorId: string;
	readonly #client: Client<typeof SensorService>;
	readonly #o: Required<Omit<PublisherOptions, 'sensorId'>>;
	#attributes = new Map<string, Attribute>();
	/** The attribute ids registered last (undefined: not registered since start or a failure). */
	#registered: string | undefined;
	/** The RegisterSensor in flight: both loops wait for the one call. */
	#registering: Promise<void> | undefined;
	#queue: Queued[] = [];
	#abort: AbortController | undefined;
	#wake: (() => void) | undefined;

	constructor(client: Client<typeof SensorService>, options: PublisherOptions) {
		this.#client = client;
		this.sensorId = options.sensorId;
		this.#o = {
			name: options.name,
			sensorType: options.sensorType ?? 'browser',
			visibility: options.visibility ?? Visibility.PRIVATE,
			maxQueue: options.maxQueue ?? 5000,
			maxAgeMs: options.maxAgeMs ?? 60_000,
			minBackoffMs: options.minBackoffMs ?? 500,
			maxBackoffMs: options.maxBackoffMs ?? 10_000
		};
	}

	/** Batch window and size to use now (defaults before the server said). */
	get window(): number {
		return this.config?.recommendedBatchWindowMs || 500;
	}
	get batchSize(): number {
		return Math.max(1, this.config?.recommendedBatchSize || 5);
	}
	get paused(): boolean {
		return this.config?.paused ?? false;
	}

	/** Declares an attribute (registered before its first data is sent). */
	declare(attributeId: string, attributeType: string, unit = '', sampleRateHz = 0): void {
		if (this.#attributes.has(attributeId)) return;
		this.#attributes.set(
			attributeId,
			create(AttributeSchema, { attributeId, attributeType, unit, sampleRateHz })
		);
	}

	/** Queues one value of an attribute at time (ms since the epoch; default now). */
	add(
		attributeId: string,
		value: MeasurementValue,
		timeMs = Date.now(),
		extras: Record<string, string> = {}
	): void {
		const m = create(MeasurementSchema, {
			attributeId,
			timeUs: BigInt(Math.round(timeMs * 1000)),
			value,
			extras
		});
		this.#queue.push({ m, at: Date.now() });
		if (this.#queue.length > this.#o.maxQueue) {
			const n = this.#queue.length - this.#o.maxQueue;
			this.#queue.splice(0, n);
			this.dropped += n;
		}
		this.queued = this.#queue.length;
		if (this.#queue.length >= this.batchSize) this.#wake?.();
	}

	start(): void {
		if (this.#abort) return;
		const abort = new AbortController();
		this.#abort = abort;
		untrack(() => {
			void this.#sendLoop(abort.signal);
			void this.#watchLoop(abort.signal);
		});
	}

	/** Stops sending; what is queued stays for the next start. */
	stop(): void {
		this.#abort?.abort();
		this.#abort = undefined;
		this.#wake?.();
		this.state = 'idle';
	}

	/**
	 * Registers the sensor with its declared attributes unless that was done: one call at a
	 * time (the send and the back-pressure loops both need it first; a second caller waits
	 * for the call in flight, then checks again).
	 */
	async #register(signal: AbortSignal): Promise<void> {
		while (this.#registering) await this.#registering.catch(() => undefined);
		const attrs = [...this.#attributes.values()];
		const key = attrs.map((a) => a.attributeId).join(',');
		if (key === this.#registered) return;
		this.state = 'registering';
		const call = (async () => {
			const res = await this.#client.registerSensor(
				{
					sensorId: this.sensorId,
					name: this.#o.name,
					sensorType: this.#o.sensorType,
					visibility: this.#o.visibility,
					attributes: attrs
				},
				{ signal }
			);
			if (res.backpressure) this.config = res.backpressure;
			this.#registered = key;
		})();
		this.#registering = call;
		try {
			await call;
		} finally {
			if (this.#registering === call) this.#registering = undefined;
		}
	}

	#dropOld(): void {
		const limit = Date.now() - this.#o.maxAgeMs;
		let n = 0;
		while (n < this.#queue.length && this.#queue[n].at < limit) n++;
		if (n > 0) {
			this.#queue.splice(0, n);
			this.dropped += n;
			this.queued = this.#queue.length;
		}
	}

	/** Waits up to ms, or until woken (a full batch, stop). */
	#wait(ms: number, signal: AbortSignal): Promise<void> {
		return new Promise((resolve) => {
			const done = () => {
				clearTimeout(t);
				signal.removeEventListener('abort', done);
				this.#wake = undefined;
				resolve();
			};
			const t = setTimeout(done, ms);
			signal.addEventListener('abort', done, { once: true });
			this.#wake = done;
		});
	}

	async #sendLoop(signal: AbortSignal): Promise<void> {
		let failures = 0;
		while (!signal.aborted) {
			// Collect for one batch window, or until a batch is full.
			if (this.#queue.length < this.batchSize || this.paused) await this.#wait(this.window, signal);
			if (signal.aborted) return;
			this.#dropOld();
			if (this.paused || this.#queue.length === 0) continue;
			const batch = this.#queue.splice(
				0,
				Math.max(this.batchSize, Math.min(this.#queue.length, 1000))
			);
			try {
				await this.#register(signal);
				const res = await this.#client.publish(
					{ sensorId: this.sensorId, measurements: batch.map((q) => q.m) },
					{ signal }
				);
				if (res.backpressure) this.config = res.backpressure;
				this.sent += Number(res.accepted);
				this.batches++;
				this.state = 'live';
				this.error = undefined;
				failures = 0;
			} catch (err) {
				// Put the batch back in front; it is retried after a pause.
				this.#queue.unshift(...batch);
				if (isAbort(err, signal)) return;
				this.error = describeError(err);
				this.state = 'offline';
				this.#registered = undefined;
				const delay = Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** failures);
				failures++;
				await sleep(delay, signal);
			} finally {
				this.queued = this.#queue.length;
			}
		}
	}

	async #watchLoop(signal: AbortSignal): Promise<void> {
		let failures = 0;
		while (!signal.aborted) {
			try {
				await this.#register(signal);
				for await (const res of this.#client.watchBackpressure(
					{ sensorId: this.sensorId },
					{ signal }
				)) {
					if (res.backpressure) this.config = res.backpressure;
					failures = 0;
					// A config asking for faster sending takes effect now.
					this.#wake?.();
				}
			} catch (err) {
				if (isAbort(err, signal)) return;
				// Deleted meanwhile (or the server forgot it): register again first.
				if (hasCode(err, Code.NotFound)) this.#registered = undefined;
			}
			failures++;
			await sleep(Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** failures), signal);
		}
	}
}

/** A stable id for this browser (localStorage), e.g. "browser-k3j9x2a7". */
export function deviceSensorId(): string {
	const KEY = 'sensocto:device-id';
	let id = '';
	try {
		id = localStorage.getItem(KEY) ?? '';
	} catch {
		// No storage: a new id each time.
	}
	if (!/^[a-z0-9]{8,16}$/.test(id)) {
		id = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => (b % 36).toString(36)).join(
			''
		);
		try {
			localStorage.setItem(KEY, id);
		} catch {
			// Not kept.
		}
	}
	return `browser-${id}`;
}

/** The attention level name for the status line. */
export function attentionWord(l: AttentionLevel | undefined): string {
	switch (l) {
		case AttentionLevel.HIGH:
			return 'high';
		case AttentionLevel.MEDIUM:
			return 'medium';
		case AttentionLevel.LOW:
			return 'low';
		default:
			return 'none';
	}
}
