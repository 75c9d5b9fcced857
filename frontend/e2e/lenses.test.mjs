// End-to-end: every lens of the lobby renders live data from simulated sensors (GPS
// tracks, breathing and HRV, IMU, batteries) in real Chromium, in light and dark.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifactsDir, launchBrowser, signInAsGuest, startServer, waitFor } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	server = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1000' } });
	browser = await launchBrowser();
	await mkdir(artifactsDir, { recursive: true });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

test('lenses show live data: location, breathing, HRV, motion, battery, heart rate', async (t) => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	try {
		for (const name of ['gps_tracking', 'breathing_study', 'pupil_neon_small']) {
			const res = await context.request.post(
				`${server.url}/sensocto.v1.SimulatorService/StartScenario`,
				{
					headers: { 'Content-Type': 'application/json' },
					data: { name }
				}
			);
			if (res.status() === 404) return t.skip('this server has no simulator');
			assert.ok(res.ok(), `start ${name}: ${res.status()} ${await res.text()}`);
		}
		await page.goto(server.url + '/lobby/location');
		const pos = page.getByTestId('position').first();
		await waitFor(async () => /\d+\.\d{4}, -?\d+\.\d{4}/.test((await pos.textContent()) ?? ''), {
			timeoutMs: 20_000,
			what: 'a position on the map legend'
		});
		// The map draws vector markers without any tile server.
		await waitFor(async () => (await page.locator('.leaflet-tooltip').count()) > 0, {
			what: 'markers'
		});
		await page.waitForTimeout(3000);
		await page.screenshot({ path: join(artifactsDir, 'lens-location.png'), fullPage: true });

		for (const [path, check] of [
			['breathing', 'breaths/min'],
			['hrv', 'ms RMSSD'],
			['imu', 'Motion'],
			['battery', '%'],
			['heartrate', 'bpm']
		]) {
			await page.goto(`${server.url}/lobby/${path}`);
			await page.getByText(check).first().waitFor({ timeout: 20_000 });
			await page.waitForTimeout(4000);
			await page.emulateMedia({
				colorScheme: path === 'imu' || path === 'breathing' ? 'dark' : 'light'
			});
			await page.waitForTimeout(300);
			await page.screenshot({ path: join(artifactsDir, `lens-${path}.png`), fullPage: true });
		}
		await page.goto(`${server.url}/lobby/breathing`);
		await waitFor(async () => /\d+\.\d breaths\/min/.test(await page.locator('main').innerText()), {
			timeoutMs: 30_000,
			what: 'a breathing rate'
		});
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'lenses-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});
