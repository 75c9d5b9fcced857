import { describe, expect, it } from 'vitest';
import { columnsFor, gridRange, sameRange, type GridInput } from './virtual-grid';

describe('columnsFor', () => {
	it.each([
		// width, min tile, gap → columns (as CSS repeat(auto-fill, minmax(min, 1fr)))
		[1920, 264, 12, 7], // 7 × 264 + 6 × 12 = 1920: seven fit exactly
		[1919, 264, 12, 6],
		[276 * 2 - 12, 264, 12, 2], // exactly two tracks and one gap
		[276 * 2 - 13, 264, 12, 1],
		[100, 264, 12, 1], // narrower than one tile: one column (min(100%, tile))
		[0, 264, 12, 1],
		[NaN, 264, 12, 1]
	])('%s px, tiles of %s px, gap %s → %s', (w, min, gap, want) => {
		expect(columnsFor(w, min, gap)).toBe(want);
	});
});

const base: GridInput = {
	count: 1000,
	columns: 5,
	rowHeight: 300,
	gap: 10,
	viewTop: 0,
	viewBottom: 1000,
	overscan: 0
};

describe('gridRange', () => {
	it('renders the rows that intersect the viewport at the top of the list', () => {
		// Rows start at 0, 310, 620, 930: four rows intersect [0, 1000).
		const r = gridRange(base);
		expect(r).toEqual({
			start: 0,
			end: 20,
			offsetTop: 0,
			totalHeight: 200 * 300 + 199 * 10,
			rows: 200
		});
	});

	it('adds overscan rows on both sides and clamps them at the ends', () => {
		expect(gridRange({ ...base, overscan: 1 })).toMatchObject({ start: 0, end: 25, offsetTop: 0 });
		// Scrolled to rows 10..13 (3100 .. 4100): one more row each side.
		const mid = gridRange({ ...base, viewTop: 3100, viewBottom: 4100, overscan: 1 });
		expect(mid).toMatchObject({ start: 45, end: 75, offsetTop: 9 * 310 });
		// The last rows: nothing past the end of the list.
		const total = gridRange(base).totalHeight;
		const end = gridRange({ ...base, viewTop: total - 500, viewBottom: total, overscan: 2 });
		expect(end.end).toBe(1000);
		expect(end.start).toBe((200 - 2 - 2) * 5);
	});

	it('leaves out a row whose bottom is exactly at the viewport top, or that is only gap', () => {
		// Row 0 spans [0, 300); the gap [300, 310); row 1 starts at 310.
		expect(gridRange({ ...base, viewTop: 300, viewBottom: 600 })).toMatchObject({
			start: 5,
			end: 10
		});
		expect(gridRange({ ...base, viewTop: 305, viewBottom: 600 })).toMatchObject({ start: 5 });
		expect(gridRange({ ...base, viewTop: 299, viewBottom: 600 })).toMatchObject({ start: 0 });
		// A row whose top is exactly at the viewport bottom is not in view.
		expect(gridRange({ ...base, viewTop: 0, viewBottom: 310 })).toMatchObject({ end: 5 });
		expect(gridRange({ ...base, viewTop: 0, viewBottom: 311 })).toMatchObject({ end: 10 });
	});

	it('counts a partly filled last row', () => {
		const r = gridRange({ ...base, count: 12, viewBottom: 10_000 });
		expect(r).toMatchObject({ start: 0, end: 12, rows: 3, totalHeight: 3 * 300 + 2 * 10 });
	});

	it('renders nothing when the grid is far below or above the viewport', () => {
		// The grid starts 2,000 px below the viewport's bottom.
		expect(gridRange({ ...base, viewTop: -3000, viewBottom: -2000, overscan: 2 })).toMatchObject({
			start: 0,
			end: 0
		});
		// Within the overscan of the viewport: its first rows are made ready.
		expect(gridRange({ ...base, viewTop: -500, viewBottom: -100, overscan: 1 })).toMatchObject({
			start: 0,
			end: 5
		});
		const total = gridRange(base).totalHeight;
		expect(gridRange({ ...base, viewTop: total + 100, viewBottom: total + 900 })).toMatchObject({
			start: 0,
			end: 0
		});
	});

	it('handles an empty list, an empty viewport and nonsense sizes', () => {
		expect(gridRange({ ...base, count: 0 })).toEqual({
			start: 0,
			end: 0,
			offsetTop: 0,
			totalHeight: 0,
			rows: 0
		});
		expect(gridRange({ ...base, viewBottom: 0 })).toMatchObject({ start: 0, end: 0 });
		expect(gridRange({ ...base, columns: 0, count: 3 })).toMatchObject({ rows: 3, end: 3 });
		expect(gridRange({ ...base, rowHeight: 0, gap: -5, count: 3, columns: 1 })).toMatchObject({
			totalHeight: 3
		});
	});

	it('renders every tile of a window tall enough for the whole list', () => {
		const r = gridRange({ ...base, count: 100, columns: 6, viewTop: -400, viewBottom: 5400 });
		expect(r).toMatchObject({ start: 0, end: 100, rows: 17 });
	});
});

describe('sameRange', () => {
	it('compares what the grid renders', () => {
		const a = gridRange(base);
		expect(sameRange(a, gridRange({ ...base, viewTop: 5, viewBottom: 1005 }))).toBe(true);
		expect(sameRange(a, gridRange({ ...base, viewTop: 400, viewBottom: 1400 }))).toBe(false);
		expect(sameRange(a, gridRange({ ...base, count: 10 }))).toBe(false);
	});
});
