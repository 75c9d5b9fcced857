/* eslint-disable svelte/prefer-svelte-reactivity -- plain Maps and Sets here are deliberate: bookkeeping and buffers that must not trigger renders; what the UI reads is in $state or SvelteSet. */
// AttentionWatchStore follows AttentionService.WatchAttention for the sensors a page
// lists (all of them, up to 256; not only the visible ones, so a tile scrolled back into
// view shows the right level at once) and writes levels into the sensors store.
import type { Client } from '@connectrpc/connect';
import { untrack } from 'svelte';
import type { AttentionService } from '$lib/gen/sensocto/v1/attention_pb';
import type { AttentionLevel } from '$lib/gen/sensocto/v1/common_pb';
import { keepOpen } from '$lib/api/reconnect';

export class AttentionWatchStore {
	/** Level per sensor. */
	levels: Record<string, AttentionLevel> = $state({});
	/** Messages received (a test aid). */
	received = $state(0);

	readonly #client: Client<typeof AttentionService>;
	#ids: string[] = [];
	#abort: AbortController | undefined;
	#timer: ReturnType<typeof setTimeout> | undefined;

	constructor(client: Client<typeof AttentionService>) {
		this.#client = client;
	}

	/** Follows these sensors (debounced; the first 256). */
	follow(ids: Iterable<string>): void {
		const next = [...new Set(ids)].sort().slice(0, 256);
		if (next.length === this.#ids.length && next.every((x, i) => x === this.#ids[i])) return;
		this.#ids = next;
		clearTimeout(this.#timer);
		this.#timer = setTimeout(() => untrack(() => this.#restart()), 300);
	}

	stop(): void {
		clearTimeout(this.#timer);
		this.#abort?.abort();
		this.#abort = undefined;
		this.#ids = [];
	}

	#restart(): void {
		this.#abort?.abort();
		this.#abort = undefined;
		if (this.#ids.length === 0) return;
		const abort = new AbortController();
		this.#abort = abort;
		void this.#run(this.#ids, abort.signal);
	}

	#run(ids: string[], signal: AbortSignal): Promise<void> {
		return keepOpen(signal, {
			minBackoffMs: 500,
			maxBackoffMs: 15_000,
			open: async (received) => {
				for await (const res of this.#client.watchAttention({ sensorIds: ids }, { signal })) {
					for (const a of res.attention) this.levels[a.sensorId] = a.level;
					this.received++;
					received();
				}
			},
			retrying: () => {}
		});
	}
}
