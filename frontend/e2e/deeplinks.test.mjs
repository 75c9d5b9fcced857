// End-to-end: every kind of app route survives a reload (a bookmark, a shared link):
// the server answers with the app, never a 404, including a simulated sensor's page
// whose id has dots (/sensors/sim.<scenario>.<person>). API paths and missing assets
// still 404 instead of answering with the app.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
	artifactsDir,
	launchBrowser,
	rpcAs,
	signInAsGuest,
	startServer,
	waitFor
} from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	server = await startServer({
		env: {
			SENSOCTO_AUTH_RATE_LIMIT: '1000',
			SENSOCTO_DEV: 'true',
			// The demo run's sensors are sim.single_person.<person> (the system user's).
			SENSOCTO_DEMO_SCENARIO: 'single_person'
		}
	});
	browser = await launchBrowser();
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

test('a reload of every route kind shows the app, dotted sensor ids included', async (t) => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const rpc = rpcAs(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	try {
		const res = await context.request.post(
			`${server.url}/sensocto.v1.SimulatorService/StartScenario`,
			{ headers: { 'Content-Type': 'application/json' }, data: { name: 'single_person' } }
		);
		if (res.status() === 404) return t.skip('this server has no simulator');
		assert.ok(res.ok(), `start single_person: ${res.status()} ${await res.text()}`);
		// The demo's sensor (sim.single_person.<person>) and the guest's own run's
		// (sim.<owner hash>.single_person.<person>).
		const [demo, own] = await waitFor(
			async () => {
				const { sensors = [] } = await rpc('SensorService/ListSensors', {});
				const d = sensors.find((s) => /^sim\.single_person\.[^.]+$/.test(s.sensorId));
				const o = sensors.find((s) => /^sim\.[^.]+\.single_person\.[^.]+$/.test(s.sensorId));
				return d && o && [d, o];
			},
			{
				what: 'simulated sensors sim.single_person.<person> and sim.<owner>.single_person.<person>'
			}
		);
		await rpc('SensorService/RegisterSensor', {
			sensorId: 'deep-link-plain',
			name: 'Plain strap',
			attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
		});

		/** @type {[string, () => Promise<unknown>][]} route and what shows it is that page */
		const routes = [
			[`/sensors/${demo.sensorId}`, () => sensorName(page, demo.name || demo.sensorId)],
			[`/sensors/${own.sensorId}`, () => sensorName(page, own.name || own.sensorId)],
			['/sensors/deep-link-plain', () => sensorName(page, 'Plain strap')],
			['/lobby', () => heading(page, 'Lobby')],
			['/lobby/ecg', () => page.getByRole('navigation', { name: 'Main' }).waitFor()],
			['/lobby/location', () => page.getByRole('navigation', { name: 'Main' }).waitFor()],
			['/rooms', () => heading(page, 'Rooms')],
			['/simulator', () => heading(page, 'Simulator')],
			['/settings', () => heading(page, 'Settings')],
			['/system', () => page.getByTestId('version').waitFor({ timeout: 15_000 })],
			['/sense', () => page.getByRole('navigation', { name: 'Main' }).waitFor()],
			['/dev/mailbox', () => page.getByRole('navigation', { name: 'Main' }).waitFor()]
		];
		for (const [path, shows] of routes) {
			const first = await page.goto(server.url + path);
			assert.equal(first?.status(), 200, `GET ${path}`);
			await shows();
			const again = await page.reload();
			assert.equal(again?.status(), 200, `reload of ${path}`);
			assert.match(again?.headers()['content-type'] ?? '', /^text\/html/, `reload of ${path}`);
			assert.doesNotMatch(await page.content(), /404 page not found/, `reload of ${path}`);
			await shows();
			assert.equal(new URL(page.url()).pathname, path, `still at ${path} after the reload`);
		}
		await page.screenshot({ path: join(artifactsDir, 'deeplink-sensor.png') });

		// Signed out, a deep link lands on sign-in with the way back.
		const anon = await browser.newContext();
		try {
			const p = await anon.newPage();
			const r = await p.goto(`${server.url}/sensors/${demo.sensorId}`);
			assert.equal(r?.status(), 200);
			await p.waitForURL(
				(u) =>
					u.pathname === '/signin' &&
					u.searchParams.get('return_to') === `/sensors/${demo.sensorId}`
			);
		} finally {
			await anon.close();
		}

		// Never the app: API prefixes and missing built files.
		for (const path of [
			'/export/nothing',
			'/auth/oidc/nothing',
			'/dev/nothing',
			'/sensocto.v1.NoSuchService/Method',
			'/metrics/extra',
			'/_app/immutable/entry/missing.js',
			'/favicon.ico'
		]) {
			const r = await context.request.get(server.url + path);
			assert.equal(r.status(), 404, `GET ${path}`);
			assert.doesNotMatch(await r.text(), /<!doctype html>/i, `GET ${path} answered the app`);
		}
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'deeplinks-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});

/** @param {import('playwright-core').Page} page @param {string} name */
async function heading(page, name) {
	await page.getByRole('heading', { level: 1, name }).waitFor();
}

/** @param {import('playwright-core').Page} page @param {string} name */
async function sensorName(page, name) {
	const h = page.getByTestId('sensor-name');
	await h.waitFor();
	assert.equal((await h.textContent())?.trim(), name);
}
