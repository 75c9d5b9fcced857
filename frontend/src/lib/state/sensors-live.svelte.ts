/* eslint-disable svelte/prefer-svelte-reactivity -- plain Maps and Sets here are deliberate: bookkeeping and buffers that must not trigger renders; what the UI reads is in $state or SvelteSet. */
// setupLive creates, for a page that shows live sensors, the stores it needs and wires
// them together: the sensor list, one Watch stream that follows exactly the sensors the
// attention reporter sees on screen (plus pinned ones), attention levels, and the
// reporter itself. Call it during a layout's or page's initialisation; children read the
// stores by context (getSensors, getWatch, getReporter, getPrefs).
import { untrack } from 'svelte';
import { AttentionService } from '$lib/gen/sensocto/v1/attention_pb';
import { AuthService } from '$lib/gen/sensocto/v1/auth_pb';
import { SensorService, type Sensor } from '$lib/gen/sensocto/v1/sensor_pb';
import { getClient } from '$lib/api/transport';
import { TEXT_FPS } from '$lib/charts/frame';
import { AttentionReporter, setReporter } from '$lib/attention/reporter.svelte';
import { getSession } from './session.svelte';
import { AttentionWatchStore } from './attention.svelte';
import { SensorsStore, setSensors } from './sensors.svelte';
import { SensorPrefsStore, setPrefs } from './sensors-prefs.svelte';
import { MAX_WATCH, WatchStore, setWatch } from './watch.svelte';

export interface LiveOptions {
	/** Sensors to watch whether visible or not (a detail page's sensor). */
	always?: () => string[];
	/**
	 * The sensors to show, when not every sensor the user may see (a room's): the store
	 * lists nothing itself and follows this list.
	 */
	scope?: () => Sensor[];
}

export function setupLive(options: LiveOptions = {}) {
	const sensorClient = getClient(SensorService);
	const attentionClient = getClient(AttentionService);
	const session = getSession();
	const sensors = setSensors(new SensorsStore(sensorClient, { list: !options.scope }));
	const reporter = setReporter(new AttentionReporter(attentionClient));
	const watch = setWatch(
		new WatchStore(sensorClient, { tabId: reporter.tabId, tickFps: TEXT_FPS })
	);
	const levels = new AttentionWatchStore(attentionClient);
	const prefs = setPrefs(new SensorPrefsStore(getClient(AuthService), () => session.user));

	$effect(() => {
		sensors.start();
		watch.start();
		reporter.start();
		const off = watch.onEvent((ev) => sensors.applyEvent(ev));
		// Before the session is revoked: end the streams and reports it would refuse.
		const offSignOut = session.onBeforeSignOut(async () => {
			watch.stop();
			levels.stop();
			sensors.stop();
			await reporter.halt();
		});
		return () => {
			off();
			offSignOut();
			sensors.stop();
			watch.stop();
			// Signed out (the guard is leaving this page): the server would refuse a last report.
			reporter.stop(untrack(() => session.signedIn));
			levels.stop();
			prefs.close();
		};
	});

	if (options.scope) {
		const scope = options.scope;
		$effect(() => sensors.replace(scope()));
	}

	// Signing out (here or in another tab) ends reporting at once: no report after it.
	$effect(() => {
		if (session.status === 'signed-out') reporter.stop(false);
	});

	// Pins saved in preferences are this tab's pins (HIGH attention while shown), also when
	// another tab changed them.
	$effect(() => {
		for (const id of prefs.pinned) reporter.pin(id);
		for (const id of untrack(() => [...reporter.pinned]))
			if (!prefs.pinned.has(id)) reporter.unpin(id);
	});

	// The Watch follows what is on screen, plus pinned sensors and the page's own.
	const watched = $derived.by(() => {
		const ids = new Set<string>(reporter.visibleSensors);
		for (const id of reporter.pinned) if (id in sensors.byId) ids.add(id);
		for (const id of options.always?.() ?? []) ids.add(id);
		return ids;
	});
	$effect(() => watch.setSensors(watched));

	$effect(() => watch.describe(sensors.list));

	// Attention levels of every listed sensor while they fit one WatchAttention (a tile
	// scrolled into view shows its level at once); of a longer list (the virtualised lobby
	// of 1,000), those of the watched sensors only.
	$effect(() => {
		const all = sensors.list.map((s) => s.sensorId);
		levels.follow(all.length <= MAX_WATCH ? all : watched);
	});

	$effect(() => {
		for (const [id, level] of Object.entries(levels.levels)) {
			if (sensors.attention[id] !== level) sensors.attention[id] = level;
		}
	});

	return { sensors, watch, reporter, prefs, levels };
}
