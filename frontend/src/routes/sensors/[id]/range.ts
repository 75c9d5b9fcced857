// Time ranges of the sensor page's history: presets, the custom range typed into
// datetime-local inputs, and how a span of data is described. Times are Unix
// microseconds (as GetHistory takes them) unless named otherwise.
import { formatDateTime, formatDuration, formatTime } from '$lib/format/format';

export type Preset = '5m' | '1h' | '24h';
export type Range = Preset | 'custom';

export const presetSeconds: Record<Preset, number> = { '5m': 300, '1h': 3600, '24h': 86400 };

/** A range to ask for: from (inclusive) and to (exclusive), µs since the epoch. */
export interface UsRange {
	fromUs: number;
	toUs: number;
}

/** A datetime-local value with seconds ("2026-12-01T20:05:09") for a Date, in local time. */
export function localInput(d: Date): string {
	const p = (n: number) => String(n).padStart(2, '0');
	return (
		`${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}` +
		`T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
	);
}

/**
 * Reads a datetime-local value as local time: its start in ms since the epoch and the
 * length of the unit it names (a minute when it has no seconds, a second with them,
 * a millisecond with a fraction). Undefined when it is not a date and time.
 */
export function parseLocalInput(s: string): { ms: number; unitMs: number } | undefined {
	const m = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(
		s.trim()
	);
	if (!m) return undefined;
	const [, y, mo, d, h, mi, sec, frac] = m;
	const date = new Date(
		Number(y),
		Number(mo) - 1,
		Number(d),
		Number(h),
		Number(mi),
		Number(sec ?? 0),
		frac ? Number(frac.padEnd(3, '0')) : 0
	);
	const ms = date.getTime();
	if (!Number.isFinite(ms)) return undefined;
	return { ms, unitMs: frac ? 1 : sec !== undefined ? 1000 : 60_000 };
}

/**
 * The range of a custom choice, from inputs that show seconds (step 1). The end is
 * inclusive of the second it shows: "20:05:09" ends after 20:05:09.999, and "20:05"
 * (how a browser writes 20:05:00) after 20:05:00.999; a minute input used to cut off
 * the last 0–59 s. With toNow the end is nowMs itself (plus a millisecond, so a value
 * stamped now is in).
 */
export function customRange(
	from: string,
	to: string,
	toNow: boolean,
	nowMs: number
): UsRange | { error: string } {
	const f = parseLocalInput(from);
	if (!f) return { error: 'The start is not a date and time.' };
	let endMs: number;
	if (toNow) endMs = nowMs + 1;
	else {
		const t = parseLocalInput(to);
		if (!t) return { error: 'The end is not a date and time.' };
		endMs = t.ms + (t.unitMs === 1 ? 1 : 1000);
	}
	if (!(endMs > f.ms)) return { error: 'The end must be after the start.' };
	return { fromUs: f.ms * 1000, toUs: endMs * 1000 };
}

/** The range of a preset ending now. */
export function presetRange(p: Preset, nowMs: number): UsRange {
	return { fromUs: (nowMs - presetSeconds[p] * 1000) * 1000, toUs: (nowMs + 1) * 1000 };
}

/** A time for a sentence: the time of day with seconds when it is today, else date and time. */
export function formatWhen(us: number, nowMs = Date.now()): string {
	const d = new Date(us / 1000);
	const today = new Date(nowMs);
	const sameDay =
		d.getFullYear() === today.getFullYear() &&
		d.getMonth() === today.getMonth() &&
		d.getDate() === today.getDate();
	return sameDay ? formatTime(d) : formatDateTime(d);
}

/** "from 20:01:05 to 20:01:13 (8s)": where a span of data lies and how long it is. */
export function describeSpan(firstUs: number, lastUs: number, nowMs = Date.now()): string {
	const secs = Math.max(0, (lastUs - firstUs) / 1e6);
	const len = secs < 1 ? 'under a second' : formatDuration(secs);
	return `from ${formatWhen(firstUs, nowMs)} to ${formatWhen(lastUs, nowMs)} (${len})`;
}
