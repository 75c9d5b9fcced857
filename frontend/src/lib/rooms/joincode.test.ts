import { describe, expect, it } from 'vitest';
import { joinCodeFrom } from './joincode';

describe('joinCodeFrom', () => {
	it('reads a typed, pasted or scanned code', () => {
		expect(joinCodeFrom('ab3dk7mq')).toBe('AB3DK7MQ');
		expect(joinCodeFrom(' AB3D-K7MQ ')).toBe('AB3DK7MQ');
		expect(joinCodeFrom('AB3D K7MQ')).toBe('AB3DK7MQ');
		expect(joinCodeFrom('https://sensocto.example/join/AB3DK7MQ')).toBe('AB3DK7MQ');
		expect(joinCodeFrom('http://127.0.0.1:8080/join/ab3dk7mq/?from=qr')).toBe('AB3DK7MQ');
	});

	it('refuses what is not a code', () => {
		expect(joinCodeFrom('')).toBeUndefined();
		expect(joinCodeFrom('AB3DK7M')).toBeUndefined();
		expect(joinCodeFrom('AB3DK7MQX')).toBeUndefined();
		expect(joinCodeFrom('AB3D_K7M')).toBeUndefined();
		expect(joinCodeFrom('https://example.com/rooms/AB3DK7MQ')).toBeUndefined();
		expect(joinCodeFrom('https://example.com/join/AB3DK7MQ/extra')).toBeUndefined();
	});
});
