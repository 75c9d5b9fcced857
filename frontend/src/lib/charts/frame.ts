// One requestAnimationFrame loop shared by every live chart (and the Watch's per-sensor
// change counters) on the page. Callers register a draw callback with a rate cap and,
// optionally, their element: a chart off screen (one shared IntersectionObserver) is not
// called at all, and each callback returns early when its data did not move.
//
// Rates are beats of one clock shared by all callers: a callback capped at 20 per second
// runs on the first frame of each 50 ms slot of the page clock, so every chart at that
// rate (and everything at a divisor of it) changes the DOM in the same frame, and the
// frames in between change nothing. Chromium's per-frame cost after any DOM change
// (paint, layerize and commit over the whole page's paint chunks, see
// docs/performance.md) is then paid once per beat, not in every frame; a frame without
// changes costs next to nothing. (The loop of round 1 spread the draws round-robin, at
// most 12 per frame, which made every frame a changed one.) At most MAX_DRAWS_PER_FRAME
// callbacks draw in one frame; the rest draw in the next frames (a backstop for very many
// charts, never reached by a lobby page).
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
	/** The beat (slot index of the page clock) of the last call. */
	beat: number;
	visible: boolean;
	/** Due but left for a later frame by the budget. */
	owed: boolean;
	/** Removed (perhaps by a callback earlier in the same frame). */
	gone: boolean;
}

/** Callbacks drawn in one frame at most; the rest draw in the next frames. */
export const MAX_DRAWS_PER_FRAME = 256;

/** rAF times jitter around a slot's start: a frame up to this early counts for it (ms). */
const JITTER_MS = 4;

/** The beat (slot index) that time now falls in, for slots of gapMs. */
export function beatOf(now: number, gapMs: number): number {
	return gapMs > 0 ? Math.floor((now + JITTER_MS) / gapMs) : now;
}

export interface FrameHost {
	request: (cb: (now: number) => void) => number;
	cancel: (id: number) => void;
	/** Reports visibility changes of elements; undefined: every element counts as visible. */
	observe?: (el: Element, visible: (v: boolean) => void) => () => void;
}

/** A shared frame loop (one per page; tests make their own with a fake host). */
export class FrameScheduler {
	readonly #entries: Entry[] = [];
	readonly #host: FrameHost;
	readonly #maxDraws: number;
	#raf = 0;
	#cursor = 0;
	/** Callbacks that drew in the last frame (a test and debugging aid). */
	lastDrawn = 0;

	constructor(host: FrameHost, maxDraws = MAX_DRAWS_PER_FRAME) {
		this.#host = host;
		this.#maxDraws = maxDraws;
	}

	/** How many callbacks are registered. */
	get size(): number {
		return this.#entries.length;
	}

	/** Runs one frame at time now (the rAF callback; public for tests). */
	frame(now: number): void {
		this.#raf = 0;
		// A copy: a callback may remove itself or others (those are marked gone and skipped).
		const list = this.#entries.slice();
		const n = list.length;
		let drawn = 0;
		let full = false;
		// Owed callbacks first, from where the last frame stopped; then the rest in order.
		for (let k = 0; k < n; k++) {
			const i = (this.#cursor + k) % n;
			const e = list[i];
			if (e.gone || !e.visible) continue;
			const beat = beatOf(now, e.gapMs);
			if (!e.owed && beat === e.beat) continue;
			if (full) {
				e.owed = true;
				continue;
			}
			e.beat = beat;
			e.owed = false;
			try {
				if (e.draw(now) === true) drawn++;
			} catch (err) {
				console.error('chart draw failed', err);
			}
			if (drawn >= this.#maxDraws) {
				full = true;
				this.#cursor = (i + 1) % n;
			}
		}
		if (!full) this.#cursor = 0;
		this.lastDrawn = drawn;
		if (this.#entries.length > 0) this.#raf = this.#host.request((t) => this.frame(t));
	}

	/**
	 * Calls draw on animation frames (at most fps times a second, on the shared beats; only
	 * while element, if given, is on screen) until the returned function is called.
	 */
	add(draw: Draw, options: FrameOptions = {}): () => void {
		const e: Entry = {
			draw,
			gapMs: options.fps && options.fps > 0 ? 1000 / options.fps : 0,
			beat: -Infinity,
			visible: true,
			owed: false,
			gone: false
		};
		this.#entries.push(e);
		let unobserve: (() => void) | undefined;
		if (options.element && this.#host.observe) {
			e.visible = false; // until the observer's first answer (before the next frames)
			unobserve = this.#host.observe(options.element, (v) => (e.visible = v));
		}
		if (!this.#raf) this.#raf = this.#host.request((t) => this.frame(t));
		return () => {
			e.gone = true;
			const i = this.#entries.indexOf(e);
			if (i >= 0) {
				this.#entries.splice(i, 1);
				if (this.#cursor > i) this.#cursor--;
				if (this.#cursor >= this.#entries.length) this.#cursor = 0;
			}
			unobserve?.();
			unobserve = undefined;
			if (this.#entries.length === 0 && this.#raf) {
				this.#host.cancel(this.#raf);
				this.#raf = 0;
			}
		};
	}
}

/** The browser's host: requestAnimationFrame and one shared IntersectionObserver. */
function browserHost(): FrameHost {
	const watchers = new Map<Element, (v: boolean) => void>();
	let observer: IntersectionObserver | undefined;
	return {
		request: (cb) => requestAnimationFrame(cb),
		cancel: (id) => cancelAnimationFrame(id),
		observe:
			typeof IntersectionObserver === 'undefined'
				? undefined
				: (el, visible) => {
						observer ??= new IntersectionObserver(
							(list) => {
								for (const it of list) watchers.get(it.target)?.(it.isIntersecting);
							},
							// A little ahead of the viewport, so a chart scrolled in is already drawn.
							{ rootMargin: '100px 0px' }
						);
						watchers.set(el, visible);
						observer.observe(el);
						return () => {
							if (watchers.get(el) === visible) {
								watchers.delete(el);
								observer?.unobserve(el);
							}
						};
					}
	};
}

let shared: FrameScheduler | undefined;

/**
 * Calls draw on animation frames (at most fps times a second, on the page's shared beats;
 * only while element, if given, is on screen) until the returned function is called.
 * Without requestAnimationFrame (unit tests in Node) nothing is ever called.
 */
export function onFrame(draw: Draw, options: FrameOptions = {}): () => void {
	if (typeof requestAnimationFrame === 'undefined') return () => {};
	shared ??= new FrameScheduler(browserHost());
	return shared.add(draw, options);
}

/**
 * Frame-rate caps: scrolling waveforms of the large canvas charts (sensor page, lenses),
 * waveforms of lobby tiles (up to ~100 on screen at once), sparklines of slow values, and
 * the per-sensor change counters that re-render a tile's text (WatchStore's tickFps).
 * Each divides 60 and TILE_WAVE_FPS is a multiple of the slower ones, so in the lobby all
 * beats coincide.
 */
export const WAVE_FPS = 30;
export const TILE_WAVE_FPS = 15;
export const SPARK_FPS = 5;
export const TEXT_FPS = 5;

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
