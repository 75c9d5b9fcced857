// End-to-end: every lens of the lobby renders live data from simulated sensors (GPS
// tracks, breathing and HRV, IMU, batteries) in real Chromium, in light and dark.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
	artifactsDir,
	launchBrowser,
	signInAsGuest,
	startServer,
	waitFor,
	rpcAs
} from './server.mjs';

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

		// A click on a marker focuses its sensor (the marker sits beside its permanent
		// label, on the side its direction class names); a click elsewhere on the map ends
		// that focus.
		const rpc = rpcAs(context, server.url);
		// The label farthest from the others: moving sensors' markers and trails overlap.
		const labels = page.locator('.leaflet-tooltip:not(.label-hidden)');
		const boxes = [];
		for (let i = 0; i < (await labels.count()); i++) boxes.push(await labels.nth(i).boundingBox());
		const apart = (i) =>
			Math.min(
				...boxes.map((b, j) =>
					j === i ? Infinity : Math.hypot(b.x - boxes[i].x, b.y - boxes[i].y)
				)
			);
		let far = 0;
		for (let i = 1; i < boxes.length; i++) if (apart(i) > apart(far)) far = i;
		const label = labels.nth(far);
		const name = (await label.textContent())?.trim();
		const { sensors } = await rpc('SensorService/ListSensors', {});
		const id = sensors.find((s) => s.name === name)?.sensorId;
		assert.ok(id, `a sensor named ${name}`);
		const level = async () =>
			(await rpc('AttentionService/GetAttention', { sensorId: id })).attention?.level;
		const box = await label.boundingBox();
		assert.ok(box);
		const side = /leaflet-tooltip-(right|left|top|bottom)/.exec(
			(await label.getAttribute('class')) ?? ''
		)?.[1];
		const marker = {
			right: [box.x - 14, box.y + box.height / 2],
			left: [box.x + box.width + 14, box.y + box.height / 2],
			top: [box.x + box.width / 2, box.y + box.height + 14],
			bottom: [box.x + box.width / 2, box.y - 14]
		}[side ?? 'right'];
		await page.mouse.click(marker[0], marker[1]);
		await waitFor(async () => (await level()) === 'ATTENTION_LEVEL_HIGH', {
			timeoutMs: 15_000,
			what: `${name} focused from its marker`
		});
		const mapBox = await page.locator('.leaflet-container').boundingBox();
		assert.ok(mapBox);
		await page.mouse.click(mapBox.x + mapBox.width - 12, mapBox.y + 12); // a corner: no marker, no control
		await waitFor(async () => (await level()) !== 'ATTENTION_LEVEL_HIGH', {
			timeoutMs: 15_000,
			what: `${name} unfocused by a click on the map (after the hover linger)`
		});

		// Each lens shows a live value in its unit and a plausible range, not only its label.
		for (const [path, pattern, min, max] of [
			['breathing', /(\d+(?:\.\d+)?)\s*breaths\/min/, 4, 40],
			['hrv', /(\d+)\s*ms RMSSD/, 1, 300],
			['imu', /\b[xyz]\s+(-?\d+(?:\.\d+)?)/, -200, 200],
			['battery', /(\d{1,3})\s*%/, 0, 100],
			['heartrate', /(\d+)\s*bpm/, 30, 220]
		]) {
			await page.goto(`${server.url}/lobby/${path}`);
			const value = await waitFor(
				async () => {
					const m = pattern.exec(await page.locator('main').innerText());
					return m ? Number(m[1]) : undefined;
				},
				{ timeoutMs: 30_000, what: `a live value on the ${path} lens (${pattern})` }
			);
			assert.ok(value >= min && value <= max, `${path}: ${value} outside [${min}, ${max}]`);
			await page.waitForTimeout(4000);
			await page.emulateMedia({
				colorScheme: path === 'imu' || path === 'breathing' ? 'dark' : 'light'
			});
			await page.waitForTimeout(300);
			await page.screenshot({ path: join(artifactsDir, `lens-${path}.png`), fullPage: true });
		}
		// The Motion lens shows the IMU's gyroscope as well as its accelerometer, with units.
		await page.goto(`${server.url}/lobby/imu`);
		await page.getByText('Motion: Gyroscope (rad/s)').first().waitFor({ timeout: 20_000 });
		await page.getByText('Motion: Accelerometer (m/s²)').first().waitFor();
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

test('a lens panel reports focus by click and keyboard, and hover, like a tile', async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const rpc = rpcAs(context, server.url);
	const ids = ['lens-focus-a', 'lens-focus-b'];
	for (const [i, id] of ids.entries()) {
		await rpc('SensorService/RegisterSensor', {
			sensorId: id,
			name: `Focus ${'AB'[i]}`,
			sensorType: 'wearable',
			attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
		});
		await rpc('SensorService/Publish', {
			sensorId: id,
			measurements: [
				{ attributeId: 'heartrate', timeUs: String(Date.now() * 1000), number: 70 + i }
			]
		});
	}
	const level = async (sensorId) =>
		(await rpc('AttentionService/GetAttention', { sensorId })).attention?.level ??
		'ATTENTION_LEVEL_NONE';
	const until = (sensorId, want, what) =>
		waitFor(async () => (await level(sensorId)) === `ATTENTION_LEVEL_${want}`, {
			timeoutMs: 15_000,
			what: `${sensorId} ${want}: ${what}`
		});
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	try {
		await page.goto(`${server.url}/lobby/heartrate`);
		const card = (name) => page.getByRole('listitem').filter({ hasText: name });
		await card('Focus A').waitFor();
		await page.mouse.move(5, 5);
		await until(ids[0], 'MEDIUM', 'in view');

		// A click on the panel's body focuses the sensor; the panel shows it.
		await card('Focus A').getByTestId('bpm').click();
		await until(ids[0], 'HIGH', 'clicked');
		await waitFor(
			async () =>
				(await card('Focus A').getByTestId('attention-badge').textContent())?.includes('High'),
			{ what: 'the badge to show High' }
		);
		// A click elsewhere ends focus (and the hover linger ends on its own).
		await page.getByRole('heading', { name: 'Heart rate' }).click();
		await until(ids[0], 'MEDIUM', 'clicked elsewhere');
		await waitFor(
			async () =>
				(await card('Focus A').getByTestId('attention-badge').textContent())?.includes('Medium'),
			{ what: 'the badge back to Medium' }
		);

		// Keyboard: Tab onto B's name link focuses B.
		const bLink = card('Focus B').getByTestId('panel-name');
		for (let i = 0; i < 40 && !(await bLink.evaluate((el) => el === document.activeElement)); i++)
			await page.keyboard.press('Tab');
		assert.equal(await bLink.evaluate((el) => el === document.activeElement), true);
		await until(ids[1], 'HIGH', 'keyboard focus');
		assert.equal(await level(ids[0]), 'ATTENTION_LEVEL_MEDIUM');
		await page.keyboard.press('Shift+Tab'); // focus leaves the panel
		await until(ids[1], 'MEDIUM', 'focus left');

		// Hover raises it too; leaving lets it fall after the server's linger.
		await card('Focus B').hover();
		await until(ids[1], 'HIGH', 'hovered');
		await page.mouse.move(5, 5);
		await until(ids[1], 'MEDIUM', 'hover left and the linger ended');
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'lens-focus-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});
