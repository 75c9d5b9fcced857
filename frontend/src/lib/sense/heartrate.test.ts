import { describe, expect, it } from 'vitest';
import { decodeHeartRate } from './heartrate';

const dv = (...bytes: number[]) => new DataView(new Uint8Array(bytes).buffer);

describe('decodeHeartRate', () => {
	it('reads a uint8 rate without extras', () => {
		expect(decodeHeartRate(dv(0x00, 72))).toEqual({
			bpm: 72,
			contact: undefined,
			energyKJ: undefined,
			rrMs: []
		});
	});
	it('reads a uint16 rate, contact, energy and RR intervals in 1/1024 s', () => {
		// flags: uint16 | contact supported+detected | energy | RR
		const m = decodeHeartRate(dv(0x1f, 0x2c, 0x01, 0x10, 0x00, 0x00, 0x04, 0x00, 0x02));
		expect(m.bpm).toBe(300);
		expect(m.contact).toBe(true);
		expect(m.energyKJ).toBe(16);
		expect(m.rrMs).toEqual([1000, 500]);
	});
	it('reports lost contact', () => {
		expect(decodeHeartRate(dv(0x04, 60)).contact).toBe(false);
	});
	it('reads RR without energy', () => {
		const m = decodeHeartRate(dv(0x10, 60, 0x00, 0x03));
		expect(m.energyKJ).toBeUndefined();
		expect(m.rrMs).toEqual([750]);
	});
	it('refuses a truncated value', () => {
		expect(() => decodeHeartRate(dv(0x01, 60))).toThrow(RangeError);
	});
	it('reads a uint8 rate with contact detected and several RR intervals', () => {
		// flags: contact supported+detected | RR; 72 bpm; RR 1024/1024 s and 512/1024 s
		expect(decodeHeartRate(dv(0x16, 72, 0x00, 0x04, 0x00, 0x02))).toEqual({
			bpm: 72,
			contact: true,
			energyKJ: undefined,
			rrMs: [1000, 500]
		});
	});
	it('reads a uint16 rate above 255 little-endian and ignores a trailing odd byte', () => {
		const m = decodeHeartRate(dv(0x11, 0x2c, 0x01, 0x00, 0x04, 0xff));
		expect(m.bpm).toBe(300);
		expect(m.contact).toBeUndefined();
		expect(m.rrMs).toEqual([1000]);
	});
	it('leaves contact undefined when the sensor does not support it (detected bit alone)', () => {
		expect(decodeHeartRate(dv(0x02, 60)).contact).toBeUndefined();
	});
});
