import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it, vi } from 'vitest';
import { SystemLoadLevel } from '$lib/gen/sensocto/v1/common_pb';
import {
	SystemService,
	SystemStatusSchema,
	type SystemStatus
} from '$lib/gen/sensocto/v1/system_pb';
import { SystemStatusStore } from './system.svelte';

function status(n: number): SystemStatus {
	return create(SystemStatusSchema, {
		version: 'v0.0.0-test',
		goVersion: 'go1.26',
		node: 'test-node',
		uptimeSeconds: n,
		startedAt: timestampFromDate(new Date('2026-01-01T00:00:00Z')),
		sampledAt: timestampFromDate(new Date(Date.UTC(2026, 0, 1, 0, 0, n))),
		runtime: { goroutines: BigInt(10 + n), heapAllocBytes: 1024n * 1024n, numCpu: 4 },
		database: { dialect: 'sqlite', reachable: true, pingMs: 0.4 },
		counts: { users: 1n, sensors: 2n, rooms: 3n },
		load: { level: SystemLoadLevel.NORMAL, score: 0.1, loadMultiplier: 1 }
	});
}

describe('SystemStatusStore', () => {
	it('applies each streamed status and reconnects when the stream ends', async () => {
		let calls = 0;
		let lastInterval = -1;
		const transport = createRouterTransport(({ service }) => {
			service(SystemService, {
				async *watchStatus(req) {
					calls++;
					lastInterval = req.intervalMs;
					yield { status: status(1) };
					yield { status: status(2) };
				}
			});
		});
		const store = new SystemStatusStore(createClient(SystemService, transport), {
			intervalMs: 250,
			minBackoffMs: 1,
			maxBackoffMs: 5
		});
		expect(store.state).toBe('idle');

		store.start();
		await vi.waitFor(() => expect(store.received).toBeGreaterThanOrEqual(2));
		expect(lastInterval).toBe(250);
		expect(store.status?.version).toBe('v0.0.0-test');
		expect(store.status?.uptimeSeconds).toBe(2);
		expect(store.status?.runtime?.goroutines).toBe(12n);
		expect(store.sampledAt?.toISOString()).toBe('2026-01-01T00:00:02.000Z');
		expect(store.receivedAt).toBeInstanceOf(Date);

		// The fake ends the stream after two messages: the store must open it again.
		await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(2));
		await vi.waitFor(() => expect(store.received).toBeGreaterThanOrEqual(4));

		store.stop();
		expect(store.state).toBe('idle');
	});

	it('reports errors, backs off and recovers', async () => {
		let calls = 0;
		const transport = createRouterTransport(({ service }) => {
			service(SystemService, {
				async *watchStatus() {
					calls++;
					if (calls <= 2) throw new ConnectError('down for maintenance', Code.Unavailable);
					yield { status: status(7) };
					// Stay open until the client cancels.
					await new Promise(() => {});
				}
			});
		});
		// A backoff long enough for waitFor (polling every 50 ms) to see the failed state.
		const store = new SystemStatusStore(createClient(SystemService, transport), {
			minBackoffMs: 200,
			maxBackoffMs: 200
		});
		store.start();
		await vi.waitFor(() => {
			expect(store.error).toBe('server unreachable');
			expect(store.state).toBe('reconnecting');
			expect(store.retryInMs).toBeGreaterThan(0);
		});
		await vi.waitFor(() => expect(store.state).toBe('live'), { timeout: 3000 });
		expect(calls).toBe(3);
		expect(store.error).toBeUndefined();
		expect(store.status?.uptimeSeconds).toBe(7);
		store.stop();
	});

	it('stops without reconnecting once stopped', async () => {
		let calls = 0;
		const transport = createRouterTransport(({ service }) => {
			service(SystemService, {
				async *watchStatus() {
					calls++;
					yield { status: status(1) };
					await new Promise(() => {});
				}
			});
		});
		const store = new SystemStatusStore(createClient(SystemService, transport), {
			minBackoffMs: 1,
			maxBackoffMs: 1
		});
		store.start();
		await vi.waitFor(() => expect(store.state).toBe('live'));
		store.stop();
		await new Promise((r) => setTimeout(r, 20));
		expect(calls).toBe(1);
		expect(store.state).toBe('idle');
	});
});
