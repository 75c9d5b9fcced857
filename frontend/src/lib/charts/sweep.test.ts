import { describe, expect, it } from 'vitest';
import { dirtyStrips, fitRange, stripCount, stripPath, sweepX } from './sweep';
import { Series } from './series';

function series(points: [number, number][]): Series {
	const s = new Series(1000);
	for (const [t, v] of points) s.push(t, v);
	return s;
}

describe('sweepX', () => {
	it('maps time modulo the window onto the width', () => {
		expect(sweepX(0, 5, 100)).toBe(0);
		expect(sweepX(2.5, 5, 100)).toBe(50);
		expect(sweepX(12.5, 5, 100)).toBe(50);
		expect(sweepX(-1, 5, 100)).toBe(80);
	});
});

describe('stripCount', () => {
	it('covers the width, the last strip possibly narrower', () => {
		expect(stripCount(0)).toBe(0);
		expect(stripCount(16, 16)).toBe(1);
		expect(stripCount(17, 16)).toBe(2);
		expect(stripCount(220, 16)).toBe(14);
	});
});

describe('dirtyStrips', () => {
	// 5 s over 160 px: 32 px a second, strips of 16 px (given), gap 6 px.
	it('redraws all strips at first, after a whole sweep and when time goes back', () => {
		const all = Array.from({ length: 10 }, (_, i) => i);
		expect(dirtyStrips(NaN, 1, 5, 160, 6, 16)).toEqual(all);
		expect(dirtyStrips(1, 6.5, 5, 160, 6, 16)).toEqual(all);
		expect(dirtyStrips(3, 2, 5, 160, 6, 16)).toEqual(all);
	});

	it('redraws only the strips from the old head to the new head plus the gap', () => {
		// 1.0 s → 1.25 s: x 32 → 40, plus 6 px gap → 46: strip 2 only.
		expect(dirtyStrips(1, 1.25, 5, 160, 6, 16)).toEqual([2]);
		// 1.25 s → 1.5 s: x 40 → 48 + 6 = 54: strips 2 and 3.
		expect(dirtyStrips(1.25, 1.5, 5, 160, 6, 16)).toEqual([2, 3]);
	});

	it('wraps past the right edge to the first strips', () => {
		// 4.75 s → 5.1 s: x 152 → 163.2 + 6: strip 9, then 0 after the wrap.
		expect(dirtyStrips(4.75, 5.1, 5, 160, 6, 16)).toEqual([0, 9]);
	});
});

describe('fitRange', () => {
	it('keeps the range while the values fit and fill enough of it', () => {
		const r = fitRange(undefined, 0, 10);
		expect(r).toEqual({ lo: -1, hi: 11 });
		expect(fitRange(r, 1, 9)).toBe(r);
		expect(fitRange(r, 5, 10)).toBe(r);
	});

	it('takes a new range when a value leaves it or the values shrink below 40 %', () => {
		const r = fitRange(undefined, 0, 10);
		expect(fitRange(r, 0, 20)).toEqual({ lo: -2, hi: 22 });
		expect(fitRange(r, 4, 8)).toEqual({ lo: 3.6, hi: 8.4 });
	});

	it('gives a flat signal a range of one', () => {
		expect(fitRange(undefined, 3, 3)).toEqual({ lo: 2.4, hi: 3.6 });
	});
});

describe('stripPath', () => {
	// 10 s window over 100 px (10 px a second), strips of 20 px, gap 10 px (1 s), h 10.
	const draw = (s: Series, i: number, end: number, colPx = 1) =>
		stripPath(s, i, end, 10, 100, 10, 0, 10, 1.5, colPx, 10, 20);

	it('draws this sweep left of the head and the last one right of the gap', () => {
		// One sample a second, value = second; newest at 14 s: head at x 40.
		const s = series(Array.from({ length: 15 }, (_, t) => [t, t % 10] as [number, number]));
		// Strip 0 (x 0–20): 10 s and 11 s of this sweep.
		expect(draw(s, 0, 14)).toBe('M0 10L10 9');
		// Strip 1 (x 20–40): joins 11 s, then 12 s and 13 s; 14 s is at x 40 (strip 2).
		expect(draw(s, 1, 14)).toBe('M10 9L20 8L30 7');
		// Strip 2 (x 40–60): 5 s at x 50 of the last sweep (the gap, x 40–50, erased 4 s);
		// then this sweep's 14 s, joined from 13 s.
		expect(draw(s, 2, 14)).toBe('M50 5M30 7L40 6');
		// Strip 4 (x 80–100): 8 s and 9 s of the last sweep, joined from 7 s.
		expect(draw(s, 4, 14)).toBe('M70 3L80 2L90 1');
	});

	it('is empty for a strip with nothing visible', () => {
		const s = series([[14, 1]]);
		expect(draw(s, 4, 14)).toBe('');
		expect(draw(new Series(10), 0, 0)).toBe('');
	});

	it('draws min and max per column when samples are dense, keeping a spike', () => {
		const s = new Series(1000);
		// 100 Hz for 1 s from 10 s: x 0–10 in strip 0; a spike at 10.25 s (x 2.5).
		s.pushBlock(
			10,
			100,
			Array.from({ length: 100 }, (_, i) => (i === 25 ? 10 : 0))
		);
		const d = stripPath(s, 0, 10.99, 10, 100, 10, 0, 10, 0.03, 2, 10, 20);
		expect(d.startsWith('M0 10')).toBe(true);
		expect(d).toContain('L2 0L2 10');
		// Five columns of 2 px, each drawn as max then min.
		expect(d.match(/L/g)?.length).toBe(10);
	});

	it('joins a dense strip to the last column of its left neighbour', () => {
		const s = new Series(2000);
		// 100 Hz from 10 s to 13.99 s: 10 px a second, 2 px columns of 20 samples.
		s.pushBlock(
			10,
			100,
			Array.from({ length: 400 }, () => 5)
		);
		const end = s.lastTime;
		const left = stripPath(s, 0, end, 10, 100, 10, 0, 10, 0.03, 2, 10, 20);
		const right = stripPath(s, 1, end, 10, 100, 10, 0, 10, 0.03, 2, 10, 20);
		// Strip 0's last column is at x 18; strip 1 starts there, not at 19.9.
		expect(left.endsWith('L18 5L18 5')).toBe(true);
		expect(right.startsWith('M18 5L20 5')).toBe(true);
	});

	it('the strips together hold every visible sample once', () => {
		const s = new Series(1000);
		s.pushBlock(
			0,
			4,
			Array.from({ length: 60 }, (_, i) => i)
		);
		const end = s.lastTime;
		let points = 0;
		for (let i = 0; i < 5; i++) {
			const d = stripPath(s, i, end, 10, 100, 10, 0, 60, 1, 1, 10, 20);
			// Every L is a sample; an M either a sample (run start) or the joined one.
			points += d.match(/L/g)?.length ?? 0;
			points += (d.match(/M/g)?.length ?? 0) - (d.match(/M/g) && i > 0 ? 1 : 0);
		}
		// Visible: [end − 10 + 1, end] at 4 Hz = 9 s = 37 samples.
		expect(points).toBe(37);
	});
});
