// The lenses on a set of live sensors: the grid of tiles plus one view per attribute
// family, shown as tabs when a sensor of the set has an attribute of that family. The
// lobby shows them over every sensor (/lobby/<id>), a room over its own (/rooms/<room>/<id>);
// both render the same components (registry.ts) over the sensors store in context.
import type { Sensor } from '$lib/gen/sensocto/v1/sensor_pb';

export interface Lens {
	/** The lens's path segment; '' for the grid of all sensors. */
	id: string;
	label: string;
	/** Attribute types of the family; empty: always shown. */
	types: string[];
}

export const lenses: Lens[] = [
	{ id: '', label: 'All sensors', types: [] },
	{ id: 'heartrate', label: 'Heart rate', types: ['heartrate', 'hr'] },
	{ id: 'ecg', label: 'ECG', types: ['ecg'] },
	{ id: 'breathing', label: 'Breathing', types: ['respiration'] },
	{ id: 'hrv', label: 'HRV', types: ['hrv'] },
	{
		id: 'imu',
		label: 'Motion',
		types: [
			'imu',
			'motion',
			'accelerometer',
			'gyroscope',
			'accelerometer_x',
			'accelerometer_y',
			'accelerometer_z',
			'gyroscope_x',
			'gyroscope_y',
			'gyroscope_z',
			'quaternion',
			'orientation_quaternion',
			'euler'
		]
	},
	{ id: 'pose', label: 'Pose', types: ['skeleton', 'pose', 'pose_skeleton', 'body_pose'] },
	{ id: 'gaze', label: 'Eye gaze', types: ['eye_gaze', 'gaze'] },
	{
		id: 'location',
		label: 'Location',
		types: [
			'geolocation',
			'gps',
			'location',
			'latitude',
			'longitude',
			'geolocation_lat',
			'geolocation_lng'
		]
	},
	{ id: 'battery', label: 'Battery', types: ['battery'] }
];

/** The lens with this id, if any. */
export function lensById(id: string): Lens | undefined {
	return lenses.find((l) => l.id === id);
}

/** The attribute types of lens id (empty for an unknown one). */
export function lensTypes(id: string): string[] {
	return lensById(id)?.types ?? [];
}

/** The attributes of s whose type (or id) is one of types. */
export function attributesOf(s: Sensor, types: string[]) {
	return s.attributes.filter(
		(a) => types.includes(a.attributeType) || types.includes(a.attributeId)
	);
}

/** Sensors with at least one attribute of the family. */
export function sensorsWith(list: Sensor[], types: string[]): Sensor[] {
	return list.filter((s) => attributesOf(s, types).length > 0);
}

/** The lenses worth a tab for these sensors: the grid, and each family some sensor has. */
export function availableLenses(list: Sensor[]): Lens[] {
	return lenses.filter((l) => l.types.length === 0 || sensorsWith(list, l.types).length > 0);
}
