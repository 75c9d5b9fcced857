import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatPercent } from './format';

describe('formatBytes', () => {
	it.each([
		[0, '0 B'],
		[1023, '1023 B'],
		[1536, '1.50 KiB'],
		[20n * 1024n * 1024n, '20.0 MiB'],
		[512 * 1024 ** 3, '512 GiB']
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
	it('formats a fraction', () => {
		expect(formatPercent(0.1234)).toBe('12.3 %');
	});
});
