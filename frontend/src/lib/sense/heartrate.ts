// Decodes the Bluetooth Heart Rate Measurement characteristic (0x2A37, Heart Rate
// service 0x180D) as the GATT specification lays it out:
//   byte 0 flags: bit 0 value format (0 uint8, 1 uint16 LE), bits 1-2 sensor contact
//   (bit 2 = supported, bit 1 = detected), bit 3 energy expended present, bit 4 RR present;
//   then the heart rate, then energy expended (uint16 LE, kJ) if present, then any number
//   of RR intervals (uint16 LE, in 1/1024 s).

export interface HeartRateMeasurement {
	bpm: number;
	/** undefined when the sensor does not report contact. */
	contact: boolean | undefined;
	/** Energy expended since the last reset, kJ. */
	energyKJ: number | undefined;
	/** RR intervals in milliseconds, oldest first. */
	rrMs: number[];
}

export function decodeHeartRate(view: DataView): HeartRateMeasurement {
	if (view.byteLength < 2) throw new RangeError('heart rate measurement too short');
	const flags = view.getUint8(0);
	let i = 1;
	let bpm: number;
	if (flags & 0x01) {
		if (view.byteLength < 3) throw new RangeError('heart rate measurement too short');
		bpm = view.getUint16(i, true);
		i += 2;
	} else {
		bpm = view.getUint8(i);
		i += 1;
	}
	const contact = flags & 0x04 ? (flags & 0x02) !== 0 : undefined;
	let energyKJ: number | undefined;
	if (flags & 0x08 && i + 2 <= view.byteLength) {
		energyKJ = view.getUint16(i, true);
		i += 2;
	}
	const rrMs: number[] = [];
	if (flags & 0x10) {
		for (; i + 2 <= view.byteLength; i += 2) rrMs.push((view.getUint16(i, true) / 1024) * 1000);
	}
	return { bpm, contact, energyKJ, rrMs };
}
