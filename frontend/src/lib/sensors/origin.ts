// What tells two sensors of the same name apart: who owns them and where their data comes
// from (a simulator run of which scenario, the server's demo, this browser's Sense page, a
// connector using the API). Simulated sensors carry their scenario in their id
// ("sim.<scenario>.<sensor>" for the server's demo run, "sim.<owner hash>.<scenario>.<sensor>"
// for a user's run: server/internal/simulator/runs/service.go).
import type { Sensor } from '$lib/gen/sensocto/v1/sensor_pb';
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
	/** One line for tiles and panels: "Single person · demo", "Sense page · you". */
	summary: string;
}

const simulated = /^sim\.(?:([0-9a-f]{8})\.)?([^.]+)\.[^.]/;

/** Where a sensor comes from and whose it is, as seen by the user myUserId. */
export function sensorOrigin(s: Sensor, myUserId: string | undefined): SensorOrigin {
	const mine = !!myUserId && s.ownerId === myUserId;
	const owner = mine ? 'you' : s.ownerName || 'someone else';
	const m = simulated.exec(s.sensorId);
	let source: string;
	let scenario = '';
	let demo = false;
	if (m) {
		scenario = m[2];
		demo = !m[1];
		source = `${titleFromId(scenario)} (simulated)`;
	} else if (s.sensorType === 'browser' || s.sensorType === 'phone') {
		source = 'Sense page';
	} else if (s.sensorType && s.sensorType !== 'generic') {
		source = titleFromId(s.sensorType);
	} else {
		source = 'API';
	}
	const who = demo && !mine ? 'demo' : owner;
	const what = m ? titleFromId(scenario) : source;
	return { owner, mine, source, scenario, demo, summary: `${what} · ${who}` };
}
