import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { SensorSchema, SensorSourceKind } from '$lib/gen/sensocto/v1/sensor_pb';
import { sensorOrigin } from './origin';

const me = '11111111-1111-1111-1111-111111111111';
const system = '22222222-2222-2222-2222-222222222222';

describe('sensorOrigin', () => {
	it('tells the demo run from my own run of the same scenario, from Sensor.source', () => {
		const source = {
			kind: SensorSourceKind.SIMULATOR,
			scenario: 'single_person',
			scenarioTitle: 'Single person'
		};
		const demo = create(SensorSchema, {
			// The id says nothing: the source does.
			sensorId: 'a',
			name: 'Single person · Person 1',
			ownerId: system,
			ownerName: 'Sensocto demo',
			sensorType: 'simulator',
			source: { ...source, demo: true }
		});
		const mine = create(SensorSchema, {
			sensorId: 'b',
			name: 'Single person · Person 1',
			ownerId: me,
			ownerName: 'Guest 42',
			sensorType: 'simulator',
			source
		});
		const a = sensorOrigin(demo, me);
		const b = sensorOrigin(mine, me);
		expect(a).toMatchObject({ demo: true, mine: false, scenario: 'single_person' });
		expect(a.source).toBe('Single person (simulated)');
		// The name says the scenario already: the line says what else differs.
		expect(a.summary).toBe('Simulated · demo');
		expect(b).toMatchObject({ demo: false, mine: true, owner: 'you', scenario: 'single_person' });
		expect(b.summary).toBe('Simulated · you');
		expect(a.summary).not.toBe(b.summary);
		// A name without the scenario gets it on the line.
		const plain = create(SensorSchema, { ...mine, name: 'Person1' });
		expect(sensorOrigin(plain, me).summary).toBe('Single person · you');
	});

	it("names another user's sensors by owner and source", () => {
		const phone = create(SensorSchema, {
			sensorId: 'sim.looks.like.a.simulation',
			ownerId: system,
			ownerName: 'Ada',
			sensorType: 'browser',
			source: { kind: SensorSourceKind.BROWSER }
		});
		expect(sensorOrigin(phone, me).summary).toBe('Sense page · Ada');
		const api = create(SensorSchema, {
			sensorId: 'x',
			ownerId: me,
			sensorType: 'generic',
			source: { kind: SensorSourceKind.API }
		});
		expect(sensorOrigin(api, me).summary).toBe('API · you');
		const strap = create(SensorSchema, {
			sensorId: 'y',
			ownerId: system,
			sensorType: 'polar_h10',
			source: { kind: SensorSourceKind.API }
		});
		expect(sensorOrigin(strap, me).summary).toBe('Polar h10 · someone else');
	});
});
