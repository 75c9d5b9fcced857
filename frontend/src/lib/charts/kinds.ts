// Which chart an attribute gets, and its unit when the sensor did not declare one.
const waveforms = new Set(['ecg', 'respiration', 'ppg', 'eeg', 'emg']);

const units: Record<string, string> = {
	ecg: 'mV',
	heartrate: 'bpm',
	hr: 'bpm',
	hrv: 'ms',
	respiration: '%',
	spo2: '%',
	battery: '%',
	temperature: '°C',
	humidity: '%',
	pressure: 'hPa',
	accelerometer: 'm/s²',
	gyroscope: '°/s',
	imu: 'm/s²',
	steps: 'steps'
};

/** Whether the attribute is a uniformly sampled waveform (drawn as a scrolling trace). */
export function isWaveform(type: string, rateHz = 0): boolean {
	return waveforms.has(type) || rateHz >= 20;
}

/** The unit to show: the declared one, or the usual one for the type. */
export function unitFor(type: string, declared = ''): string {
	return declared || units[type] || '';
}

/** A readable name for an attribute id or type: "blood_pressure_sys" → "Blood pressure sys". */
export function humanize(id: string): string {
	const s = id.replace(/[_-]+/g, ' ').trim();
	return s.charAt(0).toUpperCase() + s.slice(1);
}
