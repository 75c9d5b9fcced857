import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
	formatBytes,
	formatCount,
	formatDateTime,
	formatDuration,
	formatNumber,
	formatPercent,
	formatQuantity,
	formatTime,
	plural,
	setFormatLocale,
	titleFromId
} from './format';

const NBSP = '\u00a0';

beforeEach(() => setFormatLocale('en-GB'));
afterEach(() => setFormatLocale(undefined));

describe('formatBytes', () => {
	it.each([
		[0, `0${NBSP}B`],
		[1023, `1,023${NBSP}B`],
		[1536, `1.50${NBSP}KiB`],
		[20n * 1024n * 1024n, `20.0${NBSP}MiB`],
		[512 * 1024 ** 3, `512${NBSP}GiB`]
	])('%s → %s', (input, want) => {
		expect(formatBytes(input)).toBe(want);
	});
});

describe('formatDuration', () => {
	it.each([
		[0, '0s'],
		[42.9, '42s'],
		[125, '2m 5s'],
		[7500, '2h 5m'],
		[3 * 86400 + 4 * 3600 + 59, '3d 4h'],
		[-1, '–']
	])('%s → %s', (input, want) => {
		expect(formatDuration(input)).toBe(want);
	});
});

describe('formatPercent', () => {
	it('formats a fraction with a space before %', () => {
		expect(formatPercent(0.1234)).toBe(`12.3${NBSP}%`);
	});
});

describe('numbers follow the locale', () => {
	it('uses the locale separators', () => {
		expect(formatNumber(1234.5, 1)).toBe('1,234.5');
		setFormatLocale('de-DE');
		expect(formatNumber(1234.5, 1)).toBe('1.234,5');
		expect(formatCount(12345)).toBe('12.345');
	});
	it('keeps a fixed precision and never shows -0', () => {
		expect(formatNumber(36.849, 1)).toBe('36.8');
		expect(formatNumber(72, 0)).toBe('72');
		expect(formatNumber(0.5, 2)).toBe('0.50');
		expect(formatNumber(-0.001, 2)).toBe('0.00');
		expect(formatNumber(-1.5, 1)).toBe('-1.5');
	});
	it('picks about three significant digits without a precision', () => {
		expect(formatNumber(123.456)).toBe('123');
		expect(formatNumber(12.345)).toBe('12.3');
		expect(formatNumber(0.12345)).toBe('0.123');
	});
	it('joins a unit with a no-break space, degrees without one', () => {
		expect(formatQuantity(72, 'bpm', 0)).toBe(`72${NBSP}bpm`);
		expect(formatQuantity(36.84, '°C', 1)).toBe(`36.8${NBSP}°C`);
		expect(formatQuantity(270, '°', 0)).toBe('270°');
		expect(formatQuantity(NaN, 'bpm')).toBe('–');
	});
});

describe('plural', () => {
	it('uses the plural rules', () => {
		expect(plural(1, 'sensor')).toBe('1 sensor');
		expect(plural(0, 'sensor')).toBe('0 sensors');
		expect(plural(2, 'person', 'people')).toBe('2 people');
		expect(plural(1234n, 'sample')).toBe('1,234 samples');
	});
});

describe('times follow the locale clock', () => {
	const t = new Date(2026, 10, 27, 17, 5, 9);
	it('24-hour in en-GB, 12-hour in en-US', () => {
		expect(formatTime(t)).toBe('17:05:09');
		setFormatLocale('en-US');
		expect(formatTime(t)).toMatch(/^5:05:09\s?PM$/);
		expect(formatDateTime(t)).toMatch(/Nov 27, 2026.*5:05\s?PM/);
	});
	it('shows a dash for no time', () => {
		expect(formatTime(undefined)).toBe('–');
		expect(formatDateTime(new Date(NaN))).toBe('–');
	});
});

describe('titleFromId', () => {
	it.each([
		['gps_tracking', 'GPS tracking'],
		['single_person', 'Single person'],
		['blood_pressure_sys', 'Blood pressure sys'],
		['ecg_lead2', 'ECG lead2'],
		['heartRate', 'Heart rate']
	])('%s → %s', (input, want) => {
		expect(titleFromId(input)).toBe(want);
	});
});
