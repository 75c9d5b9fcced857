import { describe, expect, it } from 'vitest';
import { Series } from './series';

function times(s: Series): number[] {
	return Array.from({ length: s.length }, (_, i) => s.timeAt(i));
}

describe('Series', () => {
	it('keeps the newest values in a ring and refuses older ones', () => {
		const s = new Series(4);
		for (let i = 1; i <= 6; i++) s.push(i, i * 10);
		expect(s.length).toBe(4);
		expect(times(s)).toEqual([3, 4, 5, 6]);
		expect(s.lastValue).toBe(60);
		expect(s.push(5.5, 1)).toBe(false);
		expect(s.stale).toBe(1);
		const t = new Float64Array(4);
		const v = new Float64Array(4);
		expect(s.copySince(4.5, t, v)).toBe(2);
		expect(Array.from(v.subarray(0, 2))).toEqual([50, 60]);
	});

	it('joins consecutive sample blocks exactly, even with a jittered start', () => {
		const s = new Series(1000);
		const rate = 250;
		s.pushBlock(100, rate, new Float32Array(64).fill(1));
		// The next block claims a start 1.3 ms late (jitter below half a period of 4 ms).
		s.pushBlock(100 + 64 / rate + 0.0013, rate, new Float32Array(64).fill(2));
		const ts = times(s);
		expect(ts).toHaveLength(128);
		for (let i = 1; i < ts.length; i++) expect(ts[i] - ts[i - 1]).toBeCloseTo(1 / rate, 9);
		expect(ts[64]).toBeCloseTo(100 + 64 / rate, 9);
	});

	it('skips replayed samples and keeps a real gap', () => {
		const s = new Series(1000);
		s.pushBlock(10, 100, [1, 2, 3, 4]);
		// A replay of the same window (reconnect with the recent window): nothing added.
		expect(s.pushBlock(10, 100, [1, 2, 3, 4])).toBe(0);
		// Half overlapping: only the new half is added.
		expect(s.pushBlock(10.02, 100, [3, 4, 5, 6])).toBe(2);
		expect(s.length).toBe(6);
		// A real gap (1 s later) is not closed.
		s.pushBlock(11.06, 100, [7]);
		expect(s.lastTime).toBeCloseTo(11.06, 9);
	});
});
