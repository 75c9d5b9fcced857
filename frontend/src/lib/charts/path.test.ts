import { describe, expect, it } from 'vitest';
import { extent, markPath, tracePath } from './path';
import { Series } from './series';

function series(points: [number, number][]): Series {
	const s = new Series(1000);
	for (const [t, v] of points) s.push(t, v);
	return s;
}

describe('tracePath', () => {
	it('maps a polyline into the box, newest at the right, low values at the bottom', () => {
		const s = series([
			[10, 0],
			[11, 5],
			[12, 10]
		]);
		expect(tracePath(s, 10, 12, 100, 20, 0, 10, 5)).toBe('M0 20L50 10L100 0');
	});

	it('starts a new segment after a gap and leaves out what is before the window', () => {
		const s = series([
			[1, 1],
			[10, 1],
			[11, 1],
			[20, 1]
		]);
		expect(tracePath(s, 10, 20, 10, 10, 0, 2, 3)).toBe('M0 5L1 5M10 5');
	});

	it('draws min and max per column of colPx pixels', () => {
		const s = new Series(1000);
		// 100 samples over 1 s into 5 columns of 2 px; a spike in the second column.
		s.pushBlock(
			0,
			100,
			Array.from({ length: 100 }, (_, i) => (i === 25 ? 10 : 0))
		);
		const d = tracePath(s, 0, 1, 10, 10, 0, 10, 1, 2);
		expect(d).toBe('M0 10L0 10L2 0L2 10L4 10L4 10L6 10L6 10L8 10L8 10');
	});

	it('draws min and max per pixel column when samples outnumber pixels', () => {
		const s = new Series(1000);
		// 100 samples over 1 s into 10 columns; a spike in column 3.
		s.pushBlock(
			0,
			100,
			Array.from({ length: 100 }, (_, i) => (i === 35 ? 10 : 0))
		);
		const d = tracePath(s, 0, 1, 10, 10, 0, 10, 1);
		expect(d.startsWith('M0 10L0 10')).toBe(true);
		expect(d).toContain('L3 0L3 10'); // the spike's column spans the whole height
		expect(d.match(/L/g)?.length).toBe(19); // 10 columns × 2 points, the first a move
	});

	it('draws nothing without data or width', () => {
		expect(tracePath(new Series(10), 0, 1, 10, 10, 0, 1, 1)).toBe('');
		expect(tracePath(series([[0, 1]]), 0, 1, 0, 10, 0, 1, 1)).toBe('');
	});
});

describe('extent', () => {
	it('finds the range from an index on', () => {
		const s = series([
			[1, 5],
			[2, -1],
			[3, 3]
		]);
		expect(extent(s, 0)).toEqual({ min: -1, max: 5 });
		expect(extent(s, 2)).toEqual({ min: 3, max: 3 });
		expect(extent(s, 3)).toBeUndefined();
	});
});

describe('markPath', () => {
	it('draws the marks overlapping the window, clipped to it', () => {
		// Window 100..200 s in a 100 × 10 box; marks in ms.
		const { d, count } = markPath(
			[
				{ from: 120_000, to: 150_000 },
				{ from: 50_000, to: 110_000 },
				{ from: 190_000, to: 300_000 },
				{ from: 10_000, to: 20_000 }
			],
			100,
			200,
			100,
			10
		);
		expect(count).toBe(3);
		expect(d).toBe('M20 0H50V10H20ZM0 0H10V10H0ZM90 0H100V10H90Z');
	});

	it('widens an instant to minW pixels and draws nothing for an empty window', () => {
		expect(markPath([{ from: 150_000, to: 150_000 }], 100, 200, 100, 10, 2)).toEqual({
			d: 'M49 0H51V10H49Z',
			count: 1
		});
		expect(markPath([{ from: 150_000, to: 150_000 }], 200, 200, 100, 10)).toEqual({
			d: '',
			count: 0
		});
	});
});
