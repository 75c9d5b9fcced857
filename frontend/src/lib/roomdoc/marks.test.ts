import { describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { RoomMarks } from './marks.svelte';
import { scalar, type RoomDoc } from './sync';

function docWith(annotations: RoomDoc['annotations']): Partial<RoomDoc> {
	return A.from<Partial<RoomDoc>>({ annotations });
}

const a = (id: string, sensorId: string, attributeId = '') => ({
	id: scalar(id),
	author: scalar('u1'),
	sensorId: scalar(sensorId),
	attributeId: scalar(attributeId),
	from: 1000,
	to: 2000,
	text: scalar('spike ' + id)
});

describe('RoomMarks', () => {
	it("returns a sensor's annotations for its attribute or none, the same array while the doc is unchanged", () => {
		const m = new RoomMarks();
		expect(m.for('hr-1', 'heartrate')).toEqual([]);
		m.doc = docWith([
			a('x', 'hr-1', 'heartrate'),
			a('y', 'hr-1'),
			a('z', 'other'),
			a('w', 'hr-1', 'ecg')
		]);
		const got = m.for('hr-1', 'heartrate');
		expect(got.map((x) => x.id)).toEqual(['x', 'y']);
		expect(got[0]).toMatchObject({ from: 1000, to: 2000, text: 'spike x' });
		expect(m.for('hr-1', 'heartrate')).toBe(got);
		m.doc = docWith([a('z', 'other')]);
		expect(m.for('hr-1', 'heartrate')).toEqual([]);
	});
});
