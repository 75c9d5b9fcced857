// One requestAnimationFrame loop shared by every live chart on the page: charts register
// a draw callback and redraw only when their data moved, so 100 tiles cost one frame
// callback, not 100 timers. The loop stops when nothing is registered.
type Draw = (now: number) => void;

const draws = new Set<Draw>();
let raf = 0;

function loop(now: number) {
	raf = 0;
	for (const d of draws) {
		try {
			d(now);
		} catch (err) {
			console.error('chart draw failed', err);
		}
	}
	if (draws.size > 0) raf = requestAnimationFrame(loop);
}

/** Calls draw on every animation frame until the returned function is called. */
export function onFrame(draw: Draw): () => void {
	draws.add(draw);
	if (!raf && typeof requestAnimationFrame !== 'undefined') raf = requestAnimationFrame(loop);
	return () => {
		draws.delete(draw);
		if (draws.size === 0 && raf) {
			cancelAnimationFrame(raf);
			raf = 0;
		}
	};
}

/** Reads a CSS custom property of el (e.g. '--accent'), with a fallback. */
export function cssVar(el: Element, name: string, fallback: string): string {
	const v = getComputedStyle(el).getPropertyValue(name).trim();
	return v || fallback;
}

/** Formats a number for a chart label: up to 3 significant decimals, no noise. */
export function formatValue(v: number, unit = ''): string {
	if (!Number.isFinite(v)) return '–';
	const a = Math.abs(v);
	const s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
	return unit ? `${s} ${unit}` : s;
}
