// The range maths of the lobby's virtualised grid (SensorGrid.svelte): which tiles of a
// long list exist in the DOM for a given scroll position. Tiles sit in rows of equal
// height; the columns follow CSS `repeat(auto-fill, minmax(minTile, 1fr))` with a gap.
// Only the rows that intersect the viewport, plus `overscan` rows above and below, are
// rendered; the rest of the list is a spacer of the same height, so the scroll bar and
// the page's length stay those of the whole list.

/** The columns CSS auto-fill makes of width: as many minTile tracks as fit with gaps. */
export function columnsFor(width: number, minTile: number, gap: number): number {
	if (!(width > 0) || !(minTile > 0)) return 1;
	return Math.max(1, Math.floor((width + gap) / (minTile + gap)));
}

export interface GridInput {
	/** Tiles in the list. */
	count: number;
	columns: number;
	/** Height of a row (a tile), without the gap (px). */
	rowHeight: number;
	/** Gap between rows (px). */
	gap: number;
	/** The viewport's top and bottom relative to the grid's top (px; negative: above it). */
	viewTop: number;
	viewBottom: number;
	/** Rows rendered beyond each edge of the viewport. */
	overscan: number;
}

export interface GridRange {
	/** Index of the first rendered tile. */
	start: number;
	/** One past the last rendered tile (start === end: none). */
	end: number;
	/** Offset of the first rendered row from the grid's top (px). */
	offsetTop: number;
	/** Height of the whole grid, every row (px). */
	totalHeight: number;
	rows: number;
}

/** The tiles to render for a viewport (see GridInput). */
export function gridRange(g: GridInput): GridRange {
	const columns = Math.max(1, Math.floor(g.columns));
	const count = Math.max(0, Math.floor(g.count));
	const rowHeight = Math.max(1, g.rowHeight);
	const gap = Math.max(0, g.gap);
	const pitch = rowHeight + gap;
	const rows = Math.ceil(count / columns);
	const totalHeight = rows === 0 ? 0 : rows * rowHeight + (rows - 1) * gap;
	const none = { start: 0, end: 0, offsetTop: 0, totalHeight, rows };
	if (rows === 0 || !(g.viewBottom > g.viewTop)) return none;
	// A row intersects the view when its top is before viewBottom and its bottom after viewTop.
	let first = Math.floor(g.viewTop / pitch);
	if (g.viewTop - first * pitch >= rowHeight) first++; // viewTop falls in the gap below it
	let last = Math.ceil(g.viewBottom / pitch) - 1;
	const over = Math.max(0, Math.floor(g.overscan));
	first = Math.max(0, first - over);
	last = Math.min(rows - 1, last + over);
	if (first > last) return none;
	return {
		start: first * columns,
		end: Math.min(count, (last + 1) * columns),
		offsetTop: first * pitch,
		totalHeight,
		rows
	};
}

/** Whether two ranges render the same tiles at the same place (no update needed). */
export function sameRange(a: GridRange, b: GridRange): boolean {
	return (
		a.start === b.start &&
		a.end === b.end &&
		a.offsetTop === b.offsetTop &&
		a.totalHeight === b.totalHeight
	);
}
