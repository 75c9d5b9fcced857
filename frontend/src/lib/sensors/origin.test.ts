import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { SensorSchema } from '$lib/gen/sensocto/v1/sensor_pb';
import { sensorOrigin } from './origin';

const me = '11111111-1111-1111-1111-111111111111';
const system = '22222222-2222-2222-2222-222222222222';

describe('sensorOrigin', () => {
	it('tells the demo run from my own run of the same scenario', () => {
		const demo = create(SensorSchema, {
			sensorId: 'sim.single_person.person_1',
			name: 'Person1',
			ownerId: system,
			ownerName: 'Sensocto demo',
			sensorType: 'simulator'
		});
		const mine = create(SensorSchema, {
			sensorId: 'sim.0a1b2c3d.single_person.person_1',
			name: 'Person1',
			ownerId: me,
			ownerName: 'Guest 42',
			sensorType: 'simulator'
		});
		const a = sensorOrigin(demo, me);
		const b = sensorOrigin(mine, me);
		expect(a).toMatchObject({ demo: true, mine: false, scenario: 'single_person' });
		expect(a.summary).toBe('Single person · demo');
		expect(b).toMatchObject({ demo: false, mine: true, owner: 'you', scenario: 'single_person' });
		expect(b.summary).toBe('Single person · you');
		expect(a.summary).not.toBe(b.summary);
	});

	it("names another user's sensors by owner and source", () => {
		const phone = create(SensorSchema, {
			sensorId: 'ph-1',
			ownerId: system,
			ownerName: 'Ada',
			sensorType: 'browser'
		});
		expect(sensorOrigin(phone, me).summary).toBe('Sense page · Ada');
		const api = create(SensorSchema, { sensorId: 'x', ownerId: me, sensorType: 'generic' });
		expect(sensorOrigin(api, me).summary).toBe('API · you');
		const strap = create(SensorSchema, { sensorId: 'y', ownerId: system, sensorType: 'polar_h10' });
		expect(sensorOrigin(strap, me).summary).toBe('Polar h10 · someone else');
	});
});
