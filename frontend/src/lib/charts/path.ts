// Builds SVG path data for small live charts (lobby tiles) from a Series: the values in a
// time window scaled into a w × h box. With more samples than pixel columns it draws the
// min and max of each column (an ECG keeps its R peaks); otherwise a polyline, broken
// where samples are missing.

/** What the path builder reads of a series (Series implements it). */
export interface Samples {
	readonly length: number;
	indexFrom(t: number): number;
	timeAt(i: number): number;
	valueAt(i: number): number;
}

/** Smallest and largest value from index `first` on; undefined when there is none. */
export function extent(s: Samples, first: number): { min: number; max: number } | undefined {
	let min = Infinity;
	let max = -Infinity;
	for (let i = first; i < s.length; i++) {
		const v = s.valueAt(i);
		if (v < min) min = v;
		if (v > max) max = v;
	}
	return Number.isFinite(min) && Number.isFinite(max) ? { min, max } : undefined;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Path data of the samples with time in [start, end] in a w × h box, values lo..hi mapped
 * bottom to top. A step longer than gapS seconds starts a new segment (polyline only).
 * With more than two samples per column of colPx pixels, each column is drawn as its min
 * and max (colPx 2 halves the vertices to rasterize, for the ~100 tiles of a lobby).
 */
export function tracePath(
	s: Samples,
	start: number,
	end: number,
	w: number,
	h: number,
	lo: number,
	hi: number,
	gapS: number,
	colPx = 1
): string {
	const first = s.indexFrom(start);
	const n = s.length;
	if (n - first < 1 || !(w > 0) || !(end > start)) return '';
	const span = hi - lo || 1;
	const y = (v: number) => r1(h - ((v - lo) / span) * h);
	const x = (t: number) => ((t - start) / (end - start)) * w;
	const out: string[] = [];
	const cw = colPx > 0 ? colPx : 1;
	if ((n - first) / (w / cw) > 2) {
		// Min and max per column of cw pixels.
		const colOf = (t: number) => Math.floor(x(t) / cw) * cw;
		let col = colOf(s.timeAt(first));
		let cmin = s.valueAt(first);
		let cmax = cmin;
		let startCol = true;
		const flush = () => {
			out.push(`${startCol ? 'M' : 'L'}${col} ${y(cmax)}`, `L${col} ${y(cmin)}`);
			startCol = false;
		};
		for (let i = first + 1; i < n; i++) {
			const c = colOf(s.timeAt(i));
			const v = s.valueAt(i);
			if (c !== col) {
				flush();
				col = c;
				cmin = v;
				cmax = v;
			} else {
				if (v < cmin) cmin = v;
				if (v > cmax) cmax = v;
			}
		}
		flush();
	} else {
		let prev = NaN;
		for (let i = first; i < n; i++) {
			const t = s.timeAt(i);
			out.push(`${i === first || t - prev > gapS ? 'M' : 'L'}${r1(x(t))} ${y(s.valueAt(i))}`);
			prev = t;
		}
	}
	return out.join('');
}

/** A time range to mark on a chart (an annotation), Unix ms. */
export interface TimeMark {
	from: number;
	to: number;
	/** Its label (the chart's tooltip). */
	text?: string;
}

/**
 * Path data of the marks overlapping [start, end] (seconds) in a w × h box: one
 * full-height rectangle each, clipped to the window and at least minW pixels wide (an
 * instant still shows). Returns the path and how many marks it drew.
 */
export function markPath(
	marks: readonly TimeMark[],
	start: number,
	end: number,
	w: number,
	h: number,
	minW = 2
): { d: string; count: number } {
	const span = end - start;
	if (!(span > 0) || w <= 0) return { d: '', count: 0 };
	let d = '';
	let count = 0;
	for (const m of marks) {
		const from = m.from / 1000;
		const to = m.to / 1000;
		if (to < start || from > end) continue;
		let x0 = ((Math.max(from, start) - start) / span) * w;
		let x1 = ((Math.min(to, end) - start) / span) * w;
		if (x1 - x0 < minW) {
			const mid = (x0 + x1) / 2;
			x0 = Math.max(0, mid - minW / 2);
			x1 = Math.min(w, x0 + minW);
		}
		d += `M${r1(x0)} 0H${r1(x1)}V${r1(h)}H${r1(x0)}Z`;
		count++;
	}
	return { d, count };
}
