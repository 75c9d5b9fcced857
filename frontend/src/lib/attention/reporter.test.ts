import { createClient, createRouterTransport } from '@connectrpc/connect';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
	AttentionEventKind as K,
	AttentionService,
	type ReportAttentionRequest
} from '$lib/gen/sensocto/v1/attention_pb';
import { AttentionReporter } from './reporter.svelte';

function fake(fail: () => boolean = () => false) {
	const reports: ReportAttentionRequest[] = [];
	const transport = createRouterTransport(({ service }) => {
		service(AttentionService, {
			reportAttention(req) {
				reports.push(req);
				if (fail()) throw new Error('offline');
				return { leaseMs: 3000 };
			}
		});
	});
	return { reports, client: createClient(AttentionService, transport) };
}

afterEach(() => vi.useRealTimers());

describe('AttentionReporter', () => {
	it('sends nothing more once stopped for a sign-out', async () => {
		vi.useFakeTimers();
		const { reports, client } = fake();
		const r = new AttentionReporter(client, { tabId: 'tab-test-out', browser: false });
		r.start();
		await vi.advanceTimersByTimeAsync(1);
		const before = reports.length;
		r.viewEnter({ sensorId: 'a' }); // queued, not yet sent
		r.stop(false);
		await vi.advanceTimersByTimeAsync(60_000); // no flush, no heartbeat
		expect(reports).toHaveLength(before);
		// halt() waits for a report in flight.
		const r3 = new AttentionReporter(client, { tabId: 'tab-test-out3', browser: false });
		r3.start();
		const flushing = r3.flush();
		await r3.halt();
		await flushing;
		// A plain stop still sends what is queued.
		const r2 = new AttentionReporter(client, { tabId: 'tab-test-out2', browser: false });
		r2.start();
		await vi.advanceTimersByTimeAsync(1);
		r2.viewEnter({ sensorId: 'b' });
		r2.stop();
		await vi.advanceTimersByTimeAsync(1);
		expect(reports[reports.length - 1].events.map((e) => e.sensorId)).toEqual(['b']);
	});

	it('batches events per flush window and reference-counts views', async () => {
		vi.useFakeTimers();
		const { reports, client } = fake();
		const r = new AttentionReporter(client, { tabId: 'tab-test-1', browser: false, flushMs: 250 });
		r.start();
		await vi.advanceTimersByTimeAsync(1); // first heartbeat
		expect(reports).toHaveLength(1);
		expect(reports[0].events).toEqual([]);
		expect(r.leaseMs).toBe(3000);

		r.viewEnter({ sensorId: 'a' });
		r.viewEnter({ sensorId: 'a' }); // a second element of the same sensor
		r.hoverEnter({ sensorId: 'a', attributeId: 'ecg' });
		r.pin('b');
		expect([...r.visibleSensors]).toEqual(['a']);
		await vi.advanceTimersByTimeAsync(249);
		expect(reports).toHaveLength(1);
		await vi.advanceTimersByTimeAsync(2);
		expect(reports).toHaveLength(2);
		expect(reports[1].tabId).toBe('tab-test-1');
		expect(reports[1].events.map((e) => [e.kind, e.sensorId, e.attributeId])).toEqual([
			[K.VIEW_ENTER, 'a', ''],
			[K.HOVER_ENTER, 'a', 'ecg'],
			[K.PIN, 'b', '']
		]);

		r.viewLeave({ sensorId: 'a' });
		expect([...r.visibleSensors]).toEqual(['a']); // one element still shows it
		r.viewLeave({ sensorId: 'a' });
		expect([...r.visibleSensors]).toEqual([]);
		r.battery(0.15, false);
		await vi.advanceTimersByTimeAsync(300);
		const last = reports[reports.length - 1].events;
		expect(last.map((e) => e.kind)).toEqual([K.VIEW_LEAVE, K.BATTERY]);
		expect(last[1].batteryLevel).toBeCloseTo(0.15);
		r.stop();
	});

	it('flushes at once when 50 events are queued and heartbeats at lease/3', async () => {
		vi.useFakeTimers();
		const { reports, client } = fake();
		const r = new AttentionReporter(client, { tabId: 'tab-test-2', browser: false, maxBatch: 50 });
		r.start();
		await vi.advanceTimersByTimeAsync(1);
		for (let i = 0; i < 50; i++) r.viewEnter({ sensorId: `s${i}` });
		await vi.advanceTimersByTimeAsync(0);
		expect(reports).toHaveLength(2);
		expect(reports[1].events).toHaveLength(50);
		// Lease 3000 ms → heartbeat every 1000 ms with no events.
		await vi.advanceTimersByTimeAsync(1001);
		expect(reports).toHaveLength(3);
		expect(reports[2].events).toEqual([]);
		await vi.advanceTimersByTimeAsync(1000);
		expect(reports).toHaveLength(4);
		r.stop();
	});

	it('re-sends the whole state after a failed report', async () => {
		vi.useFakeTimers();
		let down = false;
		const { reports, client } = fake(() => down);
		const r = new AttentionReporter(client, { tabId: 'tab-test-3', browser: false });
		r.start();
		await vi.advanceTimersByTimeAsync(1);
		r.viewEnter({ sensorId: 'a' });
		r.pin('p');
		await vi.advanceTimersByTimeAsync(300);
		down = true;
		r.hoverEnter({ sensorId: 'a' });
		await vi.advanceTimersByTimeAsync(300);
		expect(r.error).toBeDefined();
		down = false;
		await vi.advanceTimersByTimeAsync(1100);
		const resent = reports[reports.length - 1].events.map((e) => [e.kind, e.sensorId]);
		expect(resent).toEqual([
			[K.VIEW_ENTER, 'a'],
			[K.HOVER_ENTER, 'a'],
			[K.PIN, 'p']
		]);
		expect(r.error).toBeUndefined();
		r.stop();
	});
	it('focuses one target at a time and returns to the base focus', async () => {
		vi.useFakeTimers();
		const { reports, client } = fake();
		const r = new AttentionReporter(client, { tabId: 'tab-test-f', browser: false });
		r.start();
		await vi.advanceTimersByTimeAsync(1);
		const clear = r.setBaseFocus({ sensorId: 'page' });
		r.focus({ sensorId: 'a', attributeId: 'ecg' });
		expect(r.focusedSensor).toBe('a');
		r.unfocus({ sensorId: 'other' }); // not the focused one: nothing
		r.unfocus({ sensorId: 'a', attributeId: 'ecg' });
		expect(r.focusedSensor).toBe('page');
		r.unfocus({ sensorId: 'page' }); // the base stays while set
		clear();
		expect(r.focusedSensor).toBeUndefined();
		await vi.advanceTimersByTimeAsync(300);
		const ev = reports.flatMap((x) => x.events).map((e) => [e.kind, e.sensorId, e.attributeId]);
		expect(ev).toEqual([
			[K.FOCUS, 'page', ''],
			[K.UNFOCUS, 'page', ''],
			[K.FOCUS, 'a', 'ecg'],
			[K.UNFOCUS, 'a', 'ecg'],
			[K.FOCUS, 'page', ''],
			[K.UNFOCUS, 'page', '']
		]);
		r.stop();
	});
});
