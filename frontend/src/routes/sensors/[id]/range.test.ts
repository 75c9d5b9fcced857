import { describe, expect, it } from 'vitest';
import { customRange, localInput, parseLocalInput, presetRange } from './range';

describe('customRange', () => {
	it('ends after the second shown (a browser writes 20:05:00 as 20:05)', () => {
		const r = customRange('2026-12-01T19:00', '2026-12-01T20:05', false, 0);
		expect(r).toEqual({
			fromUs: new Date(2026, 11, 1, 19, 0).getTime() * 1000,
			toUs: new Date(2026, 11, 1, 20, 5, 1).getTime() * 1000
		});
	});

	it('ends a seconds input after that second', () => {
		const r = customRange('2026-12-01T19:00:00', '2026-12-01T20:05:09', false, 0);
		expect(r).toEqual({
			fromUs: new Date(2026, 11, 1, 19, 0, 0).getTime() * 1000,
			toUs: new Date(2026, 11, 1, 20, 5, 10).getTime() * 1000
		});
	});

	it('with "until now" ends just after now, whatever the end input says', () => {
		const now = new Date(2026, 11, 1, 20, 5, 42, 500).getTime();
		const r = customRange('2026-12-01T19:00', '2026-12-01T20:05', true, now);
		expect(r).toEqual({
			fromUs: new Date(2026, 11, 1, 19, 0).getTime() * 1000,
			toUs: (now + 1) * 1000
		});
	});

	it('refuses an end before the start and input that is not a time', () => {
		expect(customRange('2026-12-01T20:05', '2026-12-01T20:04', false, 0)).toHaveProperty('error');
		expect(customRange('', '2026-12-01T20:04', false, 0)).toHaveProperty('error');
		expect(customRange('2026-12-01T20:05', 'soon', false, 0)).toHaveProperty('error');
	});
});

describe('localInput and parseLocalInput', () => {
	it('round-trip a local time with seconds', () => {
		const d = new Date(2026, 0, 2, 3, 4, 5);
		expect(localInput(d)).toBe('2026-01-02T03:04:05');
		expect(parseLocalInput(localInput(d))).toEqual({ ms: d.getTime(), unitMs: 1000 });
	});
});

describe('presetRange', () => {
	it('ends after now, so a value stamped now is in', () => {
		const r = presetRange('5m', 1_000_000);
		expect(r.toUs).toBeGreaterThan(1_000_000 * 1000);
		expect(r.toUs - r.fromUs).toBe(300_001_000);
	});
});
