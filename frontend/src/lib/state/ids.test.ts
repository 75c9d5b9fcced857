import { describe, expect, it } from 'vitest';
import { ATTRIBUTE_ID_PATTERN, SENSOR_ID_PATTERN } from '$lib/gen/limits';
import { deviceSensorId } from './sense.svelte';

describe('ids', () => {
	it("follow the server's id rules (server/apirules, generated into $lib/gen/limits)", () => {
		const sensor = new RegExp(SENSOR_ID_PATTERN);
		for (let i = 0; i < 20; i++) expect(deviceSensorId()).toMatch(sensor);
		for (const bad of ['', '_x', '.x', 'a b', 'x'.repeat(129)]) expect(bad).not.toMatch(sensor);
		expect('AA:BB:CC:DD:EE:FF').toMatch(sensor);
		const attribute = new RegExp(ATTRIBUTE_ID_PATTERN);
		expect('ecg_lead-2').toMatch(attribute);
		expect('ecg.lead').not.toMatch(attribute);
	});
});
