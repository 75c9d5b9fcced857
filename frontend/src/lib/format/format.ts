// The one place numbers, quantities, times and counted nouns are turned into text. Everything
// goes through Intl with the browser's locale (decimal separator, grouping, 12/24-hour clock,
// plural rules), so every page formats alike. A number and its unit are joined by a
// no-break space, except degrees ("12°"), as SI writes them.

let locale: string | undefined;

/** Sets the locale for formatting (tests); undefined means the browser's. */
export function setFormatLocale(l: string | undefined): void {
	locale = l;
	numberFormats.clear();
	dateFormats.clear();
	pluralRules = undefined;
}

const numberFormats = new Map<string, Intl.NumberFormat>();
function numberFormat(key: string, opts: Intl.NumberFormatOptions): Intl.NumberFormat {
	let f = numberFormats.get(key);
	if (!f) {
		f = new Intl.NumberFormat(locale, opts);
		numberFormats.set(key, f);
	}
	return f;
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();
function dateFormat(key: string, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
	let f = dateFormats.get(key);
	if (!f) {
		f = new Intl.DateTimeFormat(locale, opts);
		dateFormats.set(key, f);
	}
	return f;
}

/** Decimals for a number of unknown precision: about three significant digits, no noise. */
export function autoPrecision(v: number): number {
	const a = Math.abs(v);
	return a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
}

/**
 * Formats a number with a fixed number of decimals (or about three significant digits
 * when precision is undefined), in the locale: 1234.5 → "1,234.5" (en) / "1.234,5" (de).
 */
export function formatNumber(v: number, precision?: number): string {
	if (!Number.isFinite(v)) return '–';
	const p = precision ?? autoPrecision(v);
	// signDisplay 'negative': a value that rounds to zero shows no minus sign.
	return numberFormat(`n${p}`, {
		minimumFractionDigits: p,
		maximumFractionDigits: p,
		signDisplay: 'negative'
	}).format(v);
}

/** Joins a formatted number and its unit: "72 bpm", "36.8 °C", "45°", "98 %". */
export function withUnit(text: string, unit: string | undefined): string {
	if (!unit) return text;
	if (unit === '°') return text + unit;
	return `${text}\u00a0${unit}`;
}

/** A number with its unit: formatQuantity(36.84, '°C', 1) → "36.8 °C". */
export function formatQuantity(v: number, unit = '', precision?: number): string {
	if (!Number.isFinite(v)) return '–';
	return withUnit(formatNumber(v, precision), unit);
}

/** Formats a byte count with binary units: 1536 → "1.50 KiB". */
const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function formatBytes(value: bigint | number): string {
	let n = typeof value === 'bigint' ? Number(value) : value;
	if (!Number.isFinite(n) || n < 0) return '–';
	let unit = 0;
	while (n >= 1024 && unit < byteUnits.length - 1) {
		n /= 1024;
		unit++;
	}
	const digits = unit === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
	return withUnit(formatNumber(n, digits), byteUnits[unit]);
}

/** Formats a duration in seconds as the two largest units: "3d 4h", "2h 5m", "42s". */
export function formatDuration(seconds: number): string {
	if (!Number.isFinite(seconds) || seconds < 0) return '–';
	const s = Math.floor(seconds);
	const d = Math.floor(s / 86400);
	const h = Math.floor((s % 86400) / 3600);
	const m = Math.floor((s % 3600) / 60);
	const sec = s % 60;
	if (d > 0) return `${d}d ${h}h`;
	if (h > 0) return `${h}h ${m}m`;
	if (m > 0) return `${m}m ${sec}s`;
	return `${sec}s`;
}

/** Formats a fraction 0..1 as a percentage: 0.1234 → "12.3 %". */
export function formatPercent(fraction: number, digits = 1): string {
	if (!Number.isFinite(fraction)) return '–';
	return withUnit(formatNumber(fraction * 100, digits), '%');
}

/** Formats an integer count (bigint or number) with the locale's grouping: "12,345". */
export function formatCount(value: bigint | number): string {
	if (typeof value === 'number' && !Number.isFinite(value)) return '–';
	return numberFormat('count', { maximumFractionDigits: 0 }).format(value);
}

let pluralRules: Intl.PluralRules | undefined;

/**
 * A count with its noun in the right plural form: plural(1, 'sensor') → "1 sensor",
 * plural(3, 'sensor') → "3 sensors", plural(2, 'person', 'people') → "2 people".
 */
export function plural(n: bigint | number, one: string, other = one + 's'): string {
	pluralRules ??= new Intl.PluralRules(locale);
	const form = pluralRules.select(typeof n === 'bigint' ? Number(n) : n);
	return `${formatCount(n)} ${form === 'one' ? one : other}`;
}

/** Formats a wall-clock time with seconds in the locale's clock (12 or 24 hours). */
export function formatTime(date: Date | undefined): string {
	if (!date || Number.isNaN(date.getTime())) return '–';
	return dateFormat('time', { timeStyle: 'medium' }).format(date);
}

/** Formats a wall-clock time without seconds in the locale's clock: "14:05" / "2:05 PM". */
export function formatShortTime(date: Date | undefined): string {
	if (!date || Number.isNaN(date.getTime())) return '–';
	return dateFormat('stime', { timeStyle: 'short' }).format(date);
}

/** Formats a date and time briefly in the locale, e.g. "27 Nov 2026, 05:30". */
export function formatDateTime(date: Date | undefined): string {
	if (!date || Number.isNaN(date.getTime())) return '–';
	return dateFormat('dt', { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

const acronyms = new Set([
	'gps',
	'ecg',
	'eeg',
	'emg',
	'hrv',
	'imu',
	'ppg',
	'spo2',
	'led',
	'id',
	'ai',
	'bpm'
]);

/**
 * A readable title for a machine name (a scenario name, an unknown attribute id): words in
 * sentence case, known abbreviations in capitals: "gps_tracking" → "GPS tracking".
 */
export function titleFromId(id: string): string {
	const words = id
		.replace(/([a-z])([A-Z])/g, '$1 $2')
		.split(/[\s_-]+/)
		.filter(Boolean)
		.map((w) => w.toLowerCase());
	return words
		.map((w, i) => {
			if (acronyms.has(w)) return w === 'spo2' ? 'SpO₂' : w.toUpperCase();
			return i === 0 ? w.charAt(0).toUpperCase() + w.slice(1) : w;
		})
		.join(' ');
}
