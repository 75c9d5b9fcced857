import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AttentionLevel, BackpressureConfigSchema } from '$lib/gen/sensocto/v1/common_pb';
import { SensorService, type PublishRequest } from '$lib/gen/sensocto/v1/sensor_pb';
import { SensePublisher } from './sense.svelte';

afterEach(() => vi.useRealTimers());

function setup(opts: { down?: () => boolean } = {}) {
	const published: PublishRequest[] = [];
	let push: ((c: MessageInitShape<typeof BackpressureConfigSchema>) => void) | undefined;
	const registered: string[][] = [];
	/** Calls in order, and WatchBackpressure refused for an unknown sensor. */
	const calls: string[] = [];
	let known = false;
	const transport = createRouterTransport(({ service }) => {
		service(SensorService, {
			async registerSensor(req) {
				calls.push('register');
				// The server takes a moment: a second loop must not race past it.
				await new Promise((r) => setTimeout(r, 20));
				known = true;
				registered.push(req.attributes.map((a) => a.attributeId));
				return {
					sensor: { sensorId: req.sensorId },
					backpressure: {
						attentionLevel: AttentionLevel.LOW,
						recommendedBatchWindowMs: 2000,
						recommendedBatchSize: 10
					}
				};
			},
			publish(req) {
				if (opts.down?.()) throw new Error('offline');
				published.push(req);
				return { accepted: BigInt(req.measurements.length) };
			},
			async *watchBackpressure() {
				calls.push(known ? 'watch' : 'watch not_found');
				if (!known) throw new ConnectError('sensor not found', Code.NotFound);
				const queue: MessageInitShape<typeof BackpressureConfigSchema>[] = [];
				let wake: (() => void) | undefined;
				push = (c) => {
					queue.push(c);
					wake?.();
				};
				for (;;) {
					while (queue.length) yield { backpressure: queue.shift() };
					await new Promise<void>((r) => (wake = r));
				}
			}
		});
	});
	const pub = new SensePublisher(createClient(SensorService, transport), {
		sensorId: 'browser-test',
		name: 'Test',
		maxQueue: 100,
		minBackoffMs: 50,
		maxBackoffMs: 50
	});
	return {
		pub,
		published,
		registered,
		calls,
		config: (c: MessageInitShape<typeof BackpressureConfigSchema>) => push?.(c)
	};
}

const n = (v: number) => ({ case: 'number' as const, value: v });

describe('SensePublisher', () => {
	it('registers once, with the declared attributes, before watching back-pressure', async () => {
		vi.useFakeTimers();
		const { pub, calls, registered } = setup();
		pub.declare('battery', 'battery', '%');
		pub.start();
		pub.add('battery', n(50));
		await vi.advanceTimersByTimeAsync(3000);
		expect(calls.slice(0, 2)).toEqual(['register', 'watch']);
		expect(calls).not.toContain('watch not_found');
		expect(registered).toEqual([['battery']]);
		// A new attribute registers again, once, before its data.
		pub.declare('heartrate', 'heartrate', 'bpm');
		pub.add('heartrate', n(60));
		await vi.advanceTimersByTimeAsync(3000);
		expect(registered).toEqual([['battery'], ['battery', 'heartrate']]);
		expect(pub.state).toBe('live');
		pub.stop();
	});

	it('follows back-pressure: batch window, batch size and pause', async () => {
		vi.useFakeTimers();
		const { pub, published, registered, config } = setup();
		pub.declare('battery', 'battery', '%');
		pub.start();
		await vi.advanceTimersByTimeAsync(30);
		expect(registered[0]).toEqual(['battery']);
		expect(pub.window).toBe(2000);
		config({ recommendedBatchWindowMs: 1000, recommendedBatchSize: 3 });
		await vi.advanceTimersByTimeAsync(1);
		expect(pub.window).toBe(1000);
		// Fewer than a batch: sent when the window ends.
		pub.add('battery', n(50));
		await vi.advanceTimersByTimeAsync(500);
		expect(published).toHaveLength(0);
		await vi.advanceTimersByTimeAsync(600);
		expect(published).toHaveLength(1);
		// A full batch goes at once.
		pub.add('battery', n(1));
		pub.add('battery', n(2));
		pub.add('battery', n(3));
		await vi.advanceTimersByTimeAsync(5);
		expect(published).toHaveLength(2);
		expect(published[1].measurements.map((m) => m.value.value)).toEqual([1, 2, 3]);
		// Paused: nothing is sent, the queue holds.
		config({ paused: true, recommendedBatchWindowMs: 1000, recommendedBatchSize: 3 });
		await vi.advanceTimersByTimeAsync(1);
		for (let i = 0; i < 5; i++) pub.add('battery', n(i));
		await vi.advanceTimersByTimeAsync(3000);
		expect(published).toHaveLength(2);
		expect(pub.queued).toBe(5);
		config({ paused: false, recommendedBatchWindowMs: 100, recommendedBatchSize: 10 });
		await vi.advanceTimersByTimeAsync(150);
		expect(published).toHaveLength(3);
		expect(pub.queued).toBe(0);
		expect(pub.sent).toBe(9);
		pub.stop();
	});

	it('keeps a bounded queue across a disconnection and sends it afterwards', async () => {
		vi.useFakeTimers();
		let down = true;
		const { pub, published, config } = setup({ down: () => down });
		pub.declare('geolocation', 'geolocation');
		pub.start();
		await vi.advanceTimersByTimeAsync(30);
		config({ recommendedBatchWindowMs: 100, recommendedBatchSize: 1000 });
		for (let i = 0; i < 120; i++) pub.add('geolocation', n(i));
		await vi.advanceTimersByTimeAsync(400);
		expect(pub.state).toBe('offline');
		expect(pub.queued).toBe(100); // bounded: the 20 oldest were dropped
		expect(pub.dropped).toBe(20);
		down = false;
		await vi.advanceTimersByTimeAsync(400);
		expect(pub.state).toBe('live');
		expect(pub.queued).toBe(0);
		const values = published.flatMap((p) => p.measurements.map((m) => m.value.value));
		expect(values[0]).toBe(20);
		expect(values).toHaveLength(100);
		pub.stop();
	});
});
