// What tells two sensors of the same name apart: who owns them and where their data comes
// from (a simulator run of which scenario, the server's demo, this browser's Sense page, a
// connector using the API), as the server says in Sensor.source
// (server/internal/sensorsrpc/convert.go); the id is never parsed for it.
import { SensorSourceKind, type Sensor } from '$lib/gen/sensocto/v1/sensor_pb';
import { titleFromId } from '$lib/format/format';

export interface SensorOrigin {
	/** "you", or the owner's display name. */
	owner: string;
	/** Whether the viewer owns it. */
	mine: boolean;
	/** Where the data comes from: "Single person (simulated)", "Sense page", "API". */
	source: string;
	/** The scenario id of a simulated sensor ('' otherwise). */
	scenario: string;
	/** Part of the server's demo run. */
	demo: boolean;
	/**
	 * One short line for tiles and panels: "Simulated · demo", "Sense page · you". The
	 * scenario is named only when the sensor's name does not already say it (simulated
	 * sensors are named "<scenario> · <person>").
	 */
	summary: string;
}

/** Where a sensor comes from and whose it is, as seen by the user myUserId. */
export function sensorOrigin(s: Sensor, myUserId: string | undefined): SensorOrigin {
	const mine = !!myUserId && s.ownerId === myUserId;
	const owner = mine ? 'you' : s.ownerName || 'someone else';
	const src = s.source;
	let source: string;
	let what: string;
	let scenario = '';
	let demo = false;
	switch (src?.kind) {
		case SensorSourceKind.SIMULATOR: {
			scenario = src.scenario;
			demo = src.demo;
			const title = src.scenarioTitle || (scenario ? titleFromId(scenario) : '');
			source = title ? `${title} (simulated)` : 'Simulated';
			what = title && !(s.name || '').startsWith(title) ? title : 'Simulated';
			break;
		}
		case SensorSourceKind.BROWSER:
			source = what = 'Sense page';
			break;
		default:
			// An API connector; its device type says more when it names one.
			source = what =
				s.sensorType && s.sensorType !== 'generic' ? titleFromId(s.sensorType) : 'API';
	}
	const who = demo && !mine ? 'demo' : owner;
	return { owner, mine, source, scenario, demo, summary: `${what} · ${who}` };
}
