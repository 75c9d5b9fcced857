import { create } from '@bufbuild/protobuf';
import { createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it, vi } from 'vitest';
import {
	SensorEventKind,
	SensorService,
	WatchResponseSchema,
	type WatchRequest
} from '$lib/gen/sensocto/v1/sensor_pb';
import { WatchStore } from './watch.svelte';

const rate = 250;
function ecgBlock(startS: number, n: number, base: number) {
	return {
		attributeId: 'ecg',
		startTimeUs: BigInt(Math.round(startS * 1e6)),
		sampleRateHz: rate,
		samples: Array.from({ length: n }, (_, i) => base + i)
	};
}

describe('WatchStore', () => {
	it('merges deliveries into ring buffers, ECG blocks without gaps, and counts drops', async () => {
		const requests: WatchRequest[] = [];
		const transport = createRouterTransport(({ service }) => {
			service(SensorService, {
				async *watch(req) {
					requests.push(req);
					yield {
						recent: true,
						data: [{ sensorId: 's1', blocks: [ecgBlock(1000, 64, 0)] }]
					};
					yield {
						dropped: 3n,
						data: [
							{
								sensorId: 's1',
								// 0.9 ms of clock jitter on the next block's start.
								blocks: [ecgBlock(1000 + 64 / rate + 0.0009, 64, 64)],
								measurements: [
									{
										attributeId: 'heartrate',
										timeUs: 1000_500_000n,
										value: { case: 'number', value: 71 }
									}
								]
							}
						],
						events: [{ kind: SensorEventKind.ATTENTION, sensor: { sensorId: 's1' } }]
					};
					await new Promise(() => {}); // stay open
				}
			});
		});
		const store = new WatchStore(createClient(SensorService, transport), {
			debounceMs: 1,
			tabId: 'tab-watch-1'
		});
		const events: SensorEventKind[] = [];
		store.onEvent((e) => events.push(e.kind));
		store.setSensors(['s1']);
		store.start();
		await vi.waitFor(() => expect(store.deliveries).toBe(2));
		expect(requests[0].sensorIds).toEqual(['s1']);
		expect(requests[0].tabId).toBe('tab-watch-1'); // deliveries follow this tab's attention
		expect(store.state).toBe('live');
		expect(store.dropped).toBe(3);
		expect(events).toEqual([SensorEventKind.ATTENTION]);
		expect(store.ticks['s1']).toBe(2);

		const ecg = store.live.get('s1')!.attributes.get('ecg')!.series;
		expect(ecg.length).toBe(128);
		for (let i = 1; i < 128; i++) {
			expect(ecg.timeAt(i) - ecg.timeAt(i - 1)).toBeCloseTo(1 / rate, 9);
			expect(ecg.valueAt(i)).toBe(i);
		}
		expect(store.live.get('s1')!.attributes.get('heartrate')!.value).toBe(71);
		store.stop();
	});

	it('counts a replayed recent window as fresh as its newest sample, live data from arrival', () => {
		const transport = createRouterTransport(() => {});
		const store = new WatchStore(createClient(SensorService, transport), { tabId: 't' });
		const now = Date.now();
		const oldUs = BigInt((now - 60_000) * 1000);
		// A sensor that died a minute ago: its recent window arrives now, but is a minute old.
		store.apply(
			create(WatchResponseSchema, {
				recent: true,
				data: [
					{
						sensorId: 'dead',
						measurements: [
							{
								attributeId: 'hr',
								timeUs: oldUs,
								serverTimeUs: oldUs,
								value: { case: 'number', value: 1 }
							}
						]
					},
					{ sensorId: 'ecg', blocks: [{ ...ecgBlock((now - 30_000) / 1000, 250, 0) }] }
				]
			})
		);
		expect(now - store.live.get('dead')!.receivedAt).toBeGreaterThanOrEqual(59_000);
		// A block without a server stamp: the time of its last sample (30 s ago + 1 s).
		expect(now - store.live.get('ecg')!.receivedAt).toBeGreaterThanOrEqual(28_000);
		// Live data counts from its arrival.
		store.apply(
			create(WatchResponseSchema, {
				data: [
					{
						sensorId: 'dead',
						measurements: [
							{ attributeId: 'hr', timeUs: oldUs, value: { case: 'number', value: 2 } }
						]
					}
				]
			})
		);
		expect(store.live.get('dead')!.receivedAt).toBeGreaterThanOrEqual(now);
	});

	it('re-subscribes (debounced) when the visible set changes, and reconnects after an error', async () => {
		const seen: string[][] = [];
		let fail = true;
		const transport = createRouterTransport(({ service }) => {
			service(SensorService, {
				async *watch(req) {
					seen.push([...req.sensorIds]);
					if (fail) {
						fail = false;
						throw new Error('boom');
					}
					yield create(WatchResponseSchema, {});
					await new Promise(() => {});
				}
			});
		});
		const store = new WatchStore(createClient(SensorService, transport), {
			debounceMs: 5,
			minBackoffMs: 1,
			maxBackoffMs: 2
		});
		store.start();
		store.setSensors(['b', 'a']);
		store.setSensors(['a', 'b', 'c']);
		await vi.waitFor(() => expect(store.state).toBe('live'));
		// The two calls were coalesced; the failed attempt was retried with the same set.
		expect(seen).toEqual([
			['a', 'b', 'c'],
			['a', 'b', 'c']
		]);
		store.setSensors(['c']);
		await vi.waitFor(() => expect(seen.length).toBe(3));
		expect(seen[2]).toEqual(['c']);
		expect(store.subscribed).toEqual(['c']);
		// Nothing on screen: no stream at all.
		store.setSensors([]);
		await vi.waitFor(() => expect(store.state).toBe('idle'));
		store.stop();
	});
});

describe('WatchStore with tickFps', () => {
	it('bumps the change counters of the sensors with data together, once per beat', () => {
		// A fake requestAnimationFrame: the frames run by hand, at 60 Hz times.
		const queue: ((t: number) => void)[] = [];
		vi.stubGlobal('requestAnimationFrame', (cb: (t: number) => void) => queue.push(cb));
		vi.stubGlobal('cancelAnimationFrame', () => {});
		try {
			const transport = createRouterTransport(() => {});
			const store = new WatchStore(createClient(SensorService, transport), { tickFps: 5 });
			let at = 1000;
			const deliver = (id: string) =>
				store.apply(
					create(WatchResponseSchema, {
						data: [{ sensorId: id, blocks: [ecgBlock((at += 1), 4, 0)] }]
					})
				);
			let t = 10_000;
			const frame = () => {
				t += 1000 / 60;
				const cbs = queue.splice(0);
				for (const cb of cbs) cb(t);
			};
			deliver('a');
			deliver('a');
			deliver('b');
			expect(store.ticks['a']).toBeUndefined(); // not yet: on the next beat
			frame();
			expect(store.ticks).toEqual({ a: 1, b: 1 }); // two deliveries of a, one bump
			deliver('a');
			frame(); // the same 200 ms slot: nothing yet
			expect(store.ticks['a']).toBe(1);
			for (let i = 0; i < 12; i++) frame();
			expect(store.ticks).toEqual({ a: 2, b: 1 });
			// Nothing more arrives: the store leaves the frame loop.
			for (let i = 0; i < 30; i++) frame();
			expect(queue.length).toBe(0);
			deliver('b');
			expect(queue.length).toBe(1); // and joins it again with the next delivery
			store.stop();
		} finally {
			vi.unstubAllGlobals();
		}
	});
});
