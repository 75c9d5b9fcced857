// The System page starts the store in an $effect; this checks that the effect does not
// come to depend on the store's state (which would restart the stream on every message).
import { createClient, createRouterTransport } from '@connectrpc/connect';
import { flushSync } from 'svelte';
import { expect, it, vi } from 'vitest';
import { SystemService } from '$lib/gen/sensocto/v1/system_pb';
import { SystemStatusStore } from './system.svelte';

it('keeps one stream open while an effect owns the store', async () => {
	let calls = 0;
	let aborted = 0;
	const transport = createRouterTransport(({ service }) => {
		service(SystemService, {
			async *watchStatus(_req, ctx) {
				calls++;
				ctx.signal.addEventListener('abort', () => aborted++);
				for (let i = 1; i <= 5; i++) {
					yield { status: { version: 'v', uptimeSeconds: i } };
				}
				await new Promise(() => {});
			}
		});
	});
	const store = new SystemStatusStore(createClient(SystemService, transport));
	const destroy = $effect.root(() => {
		$effect(() => {
			store.start();
			return () => store.stop();
		});
	});
	flushSync();
	await vi.waitFor(() => expect(store.status?.uptimeSeconds).toBe(5));
	flushSync();
	expect(calls).toBe(1);
	expect(store.state).toBe('live');

	destroy();
	expect(store.state).toBe('idle');
	await vi.waitFor(() => expect(aborted).toBe(1));
});
