// The lobby's lenses: one route per attribute family, shown as tabs when a visible sensor
// has an attribute of that family.
import type { Sensor } from '$lib/gen/sensocto/v1/sensor_pb';

export interface Lens {
	path: '/lobby' | `/lobby/${string}`;
	label: string;
	/** Attribute types of the family; empty: always shown. */
	types: string[];
}

export const lenses: Lens[] = [
	{ path: '/lobby', label: 'All sensors', types: [] },
	{ path: '/lobby/heartrate', label: 'Heart rate', types: ['heartrate', 'hr'] },
	{ path: '/lobby/ecg', label: 'ECG', types: ['ecg'] },
	{ path: '/lobby/breathing', label: 'Breathing', types: ['respiration'] },
	{ path: '/lobby/hrv', label: 'HRV', types: ['hrv'] },
	{
		path: '/lobby/imu',
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
	{
		path: '/lobby/pose',
		label: 'Pose',
		types: ['skeleton', 'pose', 'pose_skeleton', 'body_pose']
	},
	{ path: '/lobby/gaze', label: 'Eye gaze', types: ['eye_gaze', 'gaze'] },
	{
		path: '/lobby/location',
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
	{ path: '/lobby/battery', label: 'Battery', types: ['battery'] }
];

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
