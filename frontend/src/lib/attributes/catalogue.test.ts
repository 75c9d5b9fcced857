import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attributeLabel, describeAttribute, isWaveform } from './catalogue';
import { formatReading } from './reading';
import { setFormatLocale } from '$lib/format/format';
import type { Latest } from '$lib/state/watch-model';

const NBSP = '\u00a0';

beforeEach(() => setFormatLocale('en-GB'));
afterEach(() => setFormatLocale(undefined));

describe('describeAttribute', () => {
	it.each([
		['ecg', 'ecg', 'ECG', 'mV'],
		['heartrate', 'heartrate', 'Heart rate', 'bpm'],
		['hr', '', 'Heart rate', 'bpm'],
		['spo2', 'spo2', 'SpO₂', '%'],
		['blood_pressure_sys', 'blood_pressure', 'Systolic BP', 'mmHg'],
		['respiratory_rate', 'respiratory', 'Breathing rate', 'breaths/min'],
		['temperature', 'temperature', 'Temperature', '°C'],
		['latitude', 'geolocation_lat', 'Latitude', '°'],
		['eye_gaze', 'eye_gaze', 'Gaze', ''],
		['skeleton', 'skeleton', 'Pose', ''],
		['ecg_lead2', 'ecg', 'ECG (ECG lead2)', 'mV'],
		['water_salinity', '', 'Water salinity', '']
	])('%s (%s) → %s [%s]', (id, type, label, unit) => {
		const d = describeAttribute({ attributeId: id, attributeType: type });
		expect(d.label).toBe(label);
		expect(d.unit).toBe(unit);
	});

	it('prefers the unit the sensor declared', () => {
		expect(describeAttribute({ attributeId: 'temperature', unit: '°F' }).unit).toBe('°F');
	});

	it('draws waveform types and fast numbers as waveforms', () => {
		expect(isWaveform(describeAttribute({ attributeId: 'ecg', attributeType: 'ecg' }))).toBe(true);
		expect(isWaveform(describeAttribute({ attributeId: 'heartrate' }))).toBe(false);
		expect(isWaveform(describeAttribute({ attributeId: 'x1', sampleRateHz: 100 }))).toBe(true);
		expect(isWaveform(describeAttribute({ attributeId: 'x1' }), 50)).toBe(true);
		expect(isWaveform(describeAttribute({ attributeId: 'eye_gaze' }), 200)).toBe(false);
	});

	it('labels from the short form', () => {
		expect(attributeLabel('imu')).toBe('Motion');
		expect(attributeLabel('accelerometer', 'imu')).toBe('Accelerometer');
	});
});

describe('formatReading', () => {
	const r = (id: string, l: Latest, compact = false, type = '') =>
		formatReading(describeAttribute({ attributeId: id, attributeType: type }), l, { compact });

	it('formats numbers with the type precision and unit', () => {
		expect(r('heartrate', { kind: 'number', value: 72.4 })).toBe(`72${NBSP}bpm`);
		expect(r('temperature', { kind: 'number', value: 36.84 })).toBe(`36.8${NBSP}°C`);
		expect(r('blood_pressure_sys', { kind: 'number', value: 121 })).toBe(`121${NBSP}mmHg`);
	});

	it('keeps x/y/z order and a shared unit', () => {
		const v = { kind: 'vector3', value: { z: 9.81, y: 0.3, x: 0.12 } } as unknown as Latest;
		expect(r('accelerometer', v, true)).toBe(`0.12, 0.30, 9.81${NBSP}m/s²`);
		expect(r('accelerometer', v)).toBe(`x 0.12 · y 0.30 · z 9.81${NBSP}m/s²`);
	});

	it('keeps latitude before longitude', () => {
		const g = {
			kind: 'geo',
			value: { longitude: 13.405, latitude: 52.52, accuracyM: 5 }
		} as unknown as Latest;
		expect(r('geolocation', g, true)).toBe('52.52000, 13.40500');
		expect(r('geolocation', g)).toBe(`lat 52.52000° · lon 13.40500° · ±5${NBSP}m`);
	});

	it('orders struct fields by the catalogue, not by arrival', () => {
		const hrv = { kind: 'struct', value: { sdnn: 50.2, rmssd: 41.7 } } as Latest;
		expect(r('hrv', hrv)).toBe(`RMSSD 42${NBSP}ms · SDNN 50${NBSP}ms`);
		const gaze = { kind: 'struct', value: { confidence: 0.9, y: 0.4, x: 0.55 } } as Latest;
		expect(r('eye_gaze', gaze)).toBe('x 0.55 · y 0.40 · confidence 0.90');
		const eyes = { kind: 'struct', value: { right: 11, left: 12.25 } } as Latest;
		expect(r('eye_aperture', eyes)).toBe('left 12.3° · right 11.0°');
	});

	it('shows a battery as level and charging', () => {
		const b = { kind: 'struct', value: { charging: true, level: 80.4 } } as Latest;
		expect(r('battery', b, true)).toBe(`80${NBSP}% · charging`);
		const off = { kind: 'struct', value: { charging: 'no', level: 55 } } as Latest;
		expect(r('battery', off, true)).toBe(`55${NBSP}%`);
	});

	it('counts landmarks with the right plural', () => {
		const pose = { kind: 'struct', value: { landmarks: new Array(33).fill({}) } } as Latest;
		expect(r('skeleton', pose)).toBe('33 landmarks');
	});

	it('shows an IMU as accelerometer then gyroscope', () => {
		const imu = {
			kind: 'struct',
			value: { gyroscope: { x: 0, y: 0.01, z: 0 }, accelerometer: { x: 0.1, y: 0.2, z: 9.8 } }
		} as unknown as Latest;
		expect(r('imu', imu)).toBe(
			`acc 0.10, 0.20, 9.80${NBSP}m/s² · gyro 0.00, 0.01, 0.00${NBSP}rad/s`
		);
	});
});
