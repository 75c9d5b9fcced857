// SystemStatusStore keeps the latest server status from SystemService.WatchStatus and
// keeps the stream open: when it ends or fails it reconnects with exponential backoff.
import type { Client } from '@connectrpc/connect';
import { untrack } from 'svelte';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { SystemService, SystemStatus } from '$lib/gen/sensocto/v1/system_pb';
import { keepOpen } from '$lib/api/reconnect';

/** Where the stream is: idle before start/after stop, live while messages arrive. */
export type StreamState = 'idle' | 'connecting' | 'live' | 'reconnecting';

export interface SystemStatusOptions {
	/** Push interval asked of the server, in milliseconds (0 = server default, 1 s). */
	intervalMs?: number;
	/** First reconnect delay in milliseconds; doubles per failure up to maxBackoffMs. */
	minBackoffMs?: number;
	/** Longest reconnect delay in milliseconds. */
	maxBackoffMs?: number;
}

export class SystemStatusStore {
	/** The latest snapshot; replaced wholesale on every message (not deeply reactive). */
	status = $state.raw<SystemStatus | undefined>(undefined);
	/** Stream state for the live indicator. */
	state = $state<StreamState>('idle');
	/** When the browser received the latest snapshot. */
	receivedAt = $state<Date | undefined>(undefined);
	/** Messages received since start (a test and debugging aid). */
	received = $state(0);
	/** Why the last attempt failed, until the next message arrives. */
	error = $state<string | undefined>(undefined);
	/** Delay before the next reconnect attempt, in milliseconds, while reconnecting. */
	retryInMs = $state(0);

	/** When the server took the latest snapshot. */
	sampledAt = $derived(this.status?.sampledAt ? timestampDate(this.status.sampledAt) : undefined);
	/** When the server process started. */
	startedAt = $derived(this.status?.startedAt ? timestampDate(this.status.startedAt) : undefined);

	readonly #client: Client<typeof SystemService>;
	readonly #intervalMs: number;
	readonly #minBackoffMs: number;
	readonly #maxBackoffMs: number;
	#abort: AbortController | undefined;

	constructor(client: Client<typeof SystemService>, options: SystemStatusOptions = {}) {
		this.#client = client;
		this.#intervalMs = options.intervalMs ?? 1000;
		this.#minBackoffMs = options.minBackoffMs ?? 500;
		this.#maxBackoffMs = options.maxBackoffMs ?? 15_000;
	}

	/** Opens the stream (once; calling it again while running does nothing). */
	start(): void {
		if (this.#abort) return;
		const abort = new AbortController();
		this.#abort = abort;
		// #run reads state before its first await; untracked, so an $effect that calls
		// start() does not depend on that state and restart the stream on every message.
		untrack(() => void this.#run(abort.signal));
	}

	/** Cancels the stream and any pending reconnect. */
	stop(): void {
		this.#abort?.abort();
		this.#abort = undefined;
		this.state = 'idle';
		this.retryInMs = 0;
	}

	#run(signal: AbortSignal): Promise<void> {
		return keepOpen(signal, {
			minBackoffMs: this.#minBackoffMs,
			maxBackoffMs: this.#maxBackoffMs,
			open: async (received, failures) => {
				this.state = failures === 0 && this.received === 0 ? 'connecting' : 'reconnecting';
				const stream = this.#client.watchStatus({ intervalMs: this.#intervalMs }, { signal });
				for await (const msg of stream) {
					if (signal.aborted) return;
					if (!msg.status) continue;
					this.status = msg.status;
					// A fresh Date per message, never mutated, so SvelteDate is not needed.
					// eslint-disable-next-line svelte/prefer-svelte-reactivity
					this.receivedAt = new Date();
					this.received++;
					this.error = undefined;
					this.state = 'live';
					received();
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
}
