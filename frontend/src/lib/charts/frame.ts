// One requestAnimationFrame loop shared by every live chart on the page. Charts register
// a draw callback with a frame-rate cap (waveforms 30 fps, sparklines a few per second)
// and, optionally, their element: a chart off screen (one shared IntersectionObserver)
// is not called at all, and each callback returns early when its data did not move. At
// most MAX_DRAWS_PER_FRAME charts draw in one frame, taken round-robin: when data for 70
// tiles lands at once (a Watch batch), their redraws spread over a few frames instead of
// making one long frame. 100 tiles cost one frame callback, not 100 timers.
// The loop stops when nothing is registered.

import { formatQuantity } from '$lib/format/format';

/** Draws the chart if its data moved; returns true when it drew (counts for the budget). */
export type Draw = (now: number) => boolean | void;

export interface FrameOptions {
	/** Most calls per second (default: every frame). */
	fps?: number;
	/** The chart's element: while it is off screen the draw is skipped. */
	element?: Element;
}

interface Entry {
	draw: Draw;
	gapMs: number;
	last: number;
	visible: boolean;
}

/** Charts drawn in one frame at most; the rest draw in the next frames. */
export const MAX_DRAWS_PER_FRAME = 12;

const entries: Entry[] = [];
const byElement = new Map<Element, Entry>();
let cursor = 0;
let raf = 0;
let observer: IntersectionObserver | undefined;

function loop(now: number) {
	raf = 0;
	const n = entries.length;
	let drawn = 0;
	for (let k = 0; k < n; k++) {
		const i = (cursor + k) % n;
		const e = entries[i];
		if (!e.visible) continue;
		// A frame early by up to 4 ms still counts (rAF times jitter around the cap).
		if (e.gapMs > 0 && now - e.last < e.gapMs - 4) continue;
		if (drawn >= MAX_DRAWS_PER_FRAME) {
			cursor = i; // the next frame starts with the first chart left waiting
			break;
		}
		e.last = now;
		try {
			if (e.draw(now) === true) drawn++;
		} catch (err) {
			console.error('chart draw failed', err);
		}
	}
	if (entries.length > 0) raf = requestAnimationFrame(loop);
}

function observe(el: Element, e: Entry) {
	if (typeof IntersectionObserver === 'undefined') return;
	observer ??= new IntersectionObserver(
		(list) => {
			for (const it of list) {
				const entry = byElement.get(it.target);
				if (entry) entry.visible = it.isIntersecting;
			}
		},
		// A little ahead of the viewport, so a chart scrolled in is already drawn.
		{ rootMargin: '100px 0px' }
	);
	e.visible = false; // until the observer's first answer (async, before the next frames)
	byElement.set(el, e);
	observer.observe(el);
}

/**
 * Calls draw on animation frames (at most fps times a second; only while element, if
 * given, is on screen) until the returned function is called.
 */
export function onFrame(draw: Draw, options: FrameOptions = {}): () => void {
	const e: Entry = {
		draw,
		gapMs: options.fps && options.fps > 0 ? 1000 / options.fps : 0,
		last: -Infinity,
		visible: true
	};
	entries.push(e);
	const el = options.element;
	if (el) observe(el, e);
	if (!raf && typeof requestAnimationFrame !== 'undefined') raf = requestAnimationFrame(loop);
	return () => {
		const i = entries.indexOf(e);
		if (i >= 0) {
			entries.splice(i, 1);
			if (cursor > i) cursor--;
			if (cursor >= entries.length) cursor = 0;
		}
		if (el && byElement.get(el) === e) {
			byElement.delete(el);
			observer?.unobserve(el);
		}
		if (entries.length === 0 && raf) {
			cancelAnimationFrame(raf);
			raf = 0;
		}
	};
}

/** Frame-rate caps: scrolling waveforms, and sparklines of slow values. */
export const WAVE_FPS = 30;
export const SPARK_FPS = 4;

/** Reads a CSS custom property of el (e.g. '--accent'), with a fallback. */
export function cssVar(el: Element, name: string, fallback: string): string {
	const v = getComputedStyle(el).getPropertyValue(name).trim();
	return v || fallback;
}

/**
 * Formats a number for a chart label: the attribute's precision when given, else about
 * three significant digits; with its unit (through the one format module).
 */
export function formatValue(v: number, unit = '', precision?: number): string {
	return formatQuantity(v, unit, precision);
}
