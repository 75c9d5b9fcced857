// Sweep-mode waveforms for lobby tiles, drawn like a bedside monitor: time t is at
// x = (t mod window) / window × width, a write head moves left to right and wraps, and a
// small gap just ahead of the head erases the oldest data. The chart is cut into vertical
// strips of a few pixels, each its own SVG path: new samples change only the strips
// between the previous and the new head (and the gap ahead of it), so the browser
// re-rasterizes a few pixels' width instead of the whole chart (see TileChart.svelte and
// docs/performance.md). The y range is fixed while the data fit it (an eased range would
// move every strip); fitRange decides when the whole chart is redrawn at a new range.

import type { Samples } from './path';

/** Strip width in CSS pixels (a multiple of the 2 px columns). */
export const STRIP_PX = 32;
/** Erased gap ahead of the head, in CSS pixels. */
export const GAP_PX = 6;

/** x of time t in a sweep of `win` seconds over w pixels, in [0, w). */
export function sweepX(t: number, win: number, w: number): number {
	const m = t % win;
	return ((m < 0 ? m + win : m) / win) * w;
}

/** Number of strips covering w pixels. */
export function stripCount(w: number, stripPx = STRIP_PX): number {
	return w > 0 ? Math.ceil(w / stripPx) : 0;
}

/**
 * Indexes of the strips to redraw when the newest sample moves from time `prev` to `end`:
 * those overlapping the x range from prev's x to end's x plus gapPx (wrapping at w). All
 * strips when prev is not a number, when time went back, or when a whole sweep passed.
 */
export function dirtyStrips(
	prev: number,
	end: number,
	win: number,
	w: number,
	gapPx = GAP_PX,
	stripPx = STRIP_PX
): number[] {
	const count = stripCount(w, stripPx);
	const all = () => Array.from({ length: count }, (_, i) => i);
	if (count === 0) return [];
	if (!Number.isFinite(prev) || !(end >= prev) || end - prev + (gapPx / w) * win >= win) {
		return all();
	}
	const x0 = sweepX(prev, win, w);
	const span = ((end - prev) / win) * w + gapPx;
	const first = Math.floor(x0 / stripPx);
	const last = Math.floor((x0 + span) / stripPx);
	const out: number[] = [];
	for (let i = first; i <= last; i++) {
		// Wrap past the right edge back to strip 0.
		const j = i < count ? i : (i - count) % count;
		if (!out.includes(j)) out.push(j);
		if (out.length === count) break;
	}
	return out.sort((a, b) => a - b);
}

/**
 * A y range for the values lo..hi of the window: the current one while the values fit in
 * it and fill at least 40 % of it, else the values with 10 % padding each side (a flat
 * signal gets ±0.5). Returns the same object when unchanged, so callers redraw everything
 * only when the range is new.
 */
export function fitRange(
	cur: { lo: number; hi: number } | undefined,
	min: number,
	max: number
): { lo: number; hi: number } {
	if (cur && min >= cur.lo && max <= cur.hi && max - min >= 0.4 * (cur.hi - cur.lo)) {
		return cur;
	}
	if (max - min < 1e-9) {
		min -= 0.5;
		max += 0.5;
	}
	const pad = (max - min) * 0.1;
	return { lo: min - pad, hi: max + pad };
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Path data of strip `index` (x from index × stripPx, stripPx wide) of a sweep chart
 * whose newest sample is at `end`: the samples with time in [end − win + gap, end] whose
 * x falls in the strip, values lo..hi mapped bottom to top in a box h high. Each run of
 * samples starts at the sample before it, so the trace joins its left neighbour. With
 * more than two samples per column of colPx pixels, each column is drawn as its min and
 * max; otherwise a polyline, broken at steps longer than gapS seconds.
 */
export function stripPath(
	s: Samples,
	index: number,
	end: number,
	win: number,
	w: number,
	h: number,
	lo: number,
	hi: number,
	gapS: number,
	colPx = 2,
	gapPx = GAP_PX,
	stripPx = STRIP_PX
): string {
	const n = s.length;
	if (n === 0 || !(w > 0) || !(win > 0) || !Number.isFinite(end)) return '';
	const x0 = index * stripPx;
	const x1 = Math.min(w, x0 + stripPx);
	if (x1 <= x0) return '';
	const span = hi - lo || 1;
	const y = (v: number) => r1(h - ((v - lo) / span) * h);
	const visibleFrom = end - win + (gapPx / w) * win;
	const cycle = Math.floor(end / win) * win;
	const out: string[] = [];
	// The strip's times in this sweep and the one before (the window spans at most two).
	for (const base of [cycle - win, cycle]) {
		const stripEnd = base + (x1 / w) * win;
		const a = Math.max(base + (x0 / w) * win, visibleFrom);
		const b = Math.min(stripEnd, end);
		if (b < a) continue;
		const x = (t: number) => ((t - base) / win) * w;
		let i = s.indexFrom(a);
		// Up to the strip's right edge (excluded: it is the next strip's) and the newest.
		let stop = i;
		while (stop < n && s.timeAt(stop) < stripEnd && s.timeAt(stop) <= end) stop++;
		if (stop === i) continue;
		const dense = stop - i > 2 * Math.max(1, (x(b) - x(a)) / colPx);
		// Dense samples are drawn at their column's x (as the neighbour strip drew them).
		const colOf = (t: number) => Math.floor(x(t) / colPx) * colPx;
		const xOf = (t: number) => (dense ? colOf(t) : r1(x(t)));
		// Join the left neighbour through the sample before the run (if it is visible
		// and in this sweep, i.e. not across the wrap).
		if (i > 0 && s.timeAt(i - 1) >= Math.max(visibleFrom, base) && a - s.timeAt(i - 1) <= gapS) {
			out.push(`M${xOf(s.timeAt(i - 1))} ${y(s.valueAt(i - 1))}`);
		} else {
			out.push(`M${xOf(s.timeAt(i))} ${y(s.valueAt(i))}`);
			if (!dense) i++;
		}
		if (dense) {
			let col = colOf(s.timeAt(i));
			let cmin = s.valueAt(i);
			let cmax = cmin;
			for (let k = i + 1; k < stop; k++) {
				const c = colOf(s.timeAt(k));
				const v = s.valueAt(k);
				if (c !== col) {
					out.push(`L${col} ${y(cmax)}L${col} ${y(cmin)}`);
					col = c;
					cmin = v;
					cmax = v;
				} else {
					if (v < cmin) cmin = v;
					if (v > cmax) cmax = v;
				}
			}
			out.push(`L${col} ${y(cmax)}L${col} ${y(cmin)}`);
		} else {
			let prev = i > 0 ? s.timeAt(i - 1) : NaN;
			for (let k = i; k < stop; k++) {
				const t = s.timeAt(k);
				out.push(`${t - prev > gapS ? 'M' : 'L'}${r1(x(t))} ${y(s.valueAt(k))}`);
				prev = t;
			}
		}
	}
	return out.join('');
}
