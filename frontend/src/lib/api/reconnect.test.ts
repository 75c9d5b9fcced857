import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, keepOpen } from './reconnect';

afterEach(() => vi.useRealTimers());

describe('keepOpen', () => {
	it('backs off exponentially with jitter, resets on a message, and stops on abort', async () => {
		vi.useFakeTimers();
		const abort = new AbortController();
		const delays: number[] = [];
		const whys: string[] = [];
		const seen: number[] = [];
		const done = keepOpen(abort.signal, {
			minBackoffMs: 100,
			maxBackoffMs: 1000,
			open: async (received, failures) => {
				seen.push(failures);
				if (seen.length !== 3) throw new Error('unavailable');
				received(); // a message, then the server ends the stream
			},
			retrying: (why, delayMs) => {
				whys.push(why);
				delays.push(delayMs);
				if (delays.length === 5) abort.abort();
			}
		});
		await vi.runAllTimersAsync();
		await done;
		expect(seen).toEqual([0, 1, 2, 1, 2]);
		expect(whys).toEqual([
			'unavailable',
			'unavailable',
			'stream ended',
			'unavailable',
			'unavailable'
		]);
		// failures 0, 1 → 100, 200 ms; a message resets: 100, 200, 400 ms (±20 %)
		const want = [100, 200, 100, 200, 400];
		delays.forEach((d, i) => {
			expect(d).toBeGreaterThanOrEqual(want[i] * 0.8);
			expect(d).toBeLessThanOrEqual(want[i] * 1.2);
		});
	});

	it('caps the pause', () => {
		for (let f = 0; f < 40; f++) expect(backoffMs(f, 500, 15_000)).toBeLessThanOrEqual(18_000);
	});
});
