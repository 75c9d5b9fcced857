// Formatting helpers for numbers the API sends: byte counts, durations, fractions.

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Formats a byte count with binary units: 1536 → "1.5 KiB". */
export function formatBytes(value: bigint | number): string {
	let n = typeof value === 'bigint' ? Number(value) : value;
	if (!Number.isFinite(n) || n < 0) return '–';
	let unit = 0;
	while (n >= 1024 && unit < byteUnits.length - 1) {
		n /= 1024;
		unit++;
	}
	const digits = unit === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
	return `${n.toFixed(digits)} ${byteUnits[unit]}`;
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
	return `${(fraction * 100).toFixed(digits)} %`;
}

/** Formats an integer count (bigint or number) with thousands separators. */
export function formatCount(value: bigint | number): string {
	return typeof value === 'bigint' ? value.toLocaleString('en-US') : value.toLocaleString('en-US');
}

/** Formats a wall-clock time as HH:MM:SS in the user's locale. */
export function formatTime(date: Date | undefined): string {
	if (!date) return '–';
	return date.toLocaleTimeString(undefined, {
		hour: '2-digit',
		minute: '2-digit',
		second: '2-digit',
		hour12: false
	});
}

/** Formats a date and time briefly in the user's locale, e.g. "27 Nov 2026, 05:30". */
export function formatDateTime(date: Date | undefined): string {
	if (!date) return '–';
	return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
