// End-to-end: the live app against a real server in real Chromium. A guest starts a
// scenario on /simulator (or, on a server without the simulator, the test publishes
// its own data), watches tiles change in the lobby, sees ECG waveforms advance, scrolls a
// tile away and sees its attention fall (GetAttention), loads an hour of history, and
// streams a faked geolocation from /sense into the lobby. Screenshots go to e2e/artifacts.
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

/** Calls a Connect RPC with JSON through the context (its session cookie). */
async function rpc(context, method, body) {
	const res = await context.request.post(`${server.url}/sensocto.v1.${method}`, {
		headers: { 'Content-Type': 'application/json' },
		data: body
	});
	const text = await res.text();
	if (!res.ok())
		throw Object.assign(new Error(`${method}: ${res.status()} ${text}`), {
			status: res.status(),
			text
		});
	return text ? JSON.parse(text) : {};
}

/**
 * Publishes test data for sensors when the server has no simulator: an ECG waveform and a
 * heart rate per sensor, every 200 ms, until the returned stop function is called.
 */
async function publishFallback(context, count) {
	const ids = Array.from({ length: count }, (_, i) => `e2e-person-${i + 1}`);
	for (const [i, id] of ids.entries()) {
		await rpc(context, 'SensorService/RegisterSensor', {
			sensorId: id,
			name: `Person ${i + 1}`,
			sensorType: 'wearable',
			attributes: [
				{ attributeId: 'ecg', attributeType: 'ecg', unit: 'mV', sampleRateHz: 250 },
				{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }
			]
		});
	}
	let t = Date.now() * 1000;
	let stopped = false;
	const loop = (async () => {
		let k = 0;
		while (!stopped) {
			for (const id of ids) {
				const samples = Array.from(
					{ length: 50 },
					(_, j) => Math.sin((k * 50 + j) / 8) * ((k * 50 + j) % 200 < 6 ? 1.5 : 0.2)
				);
				await rpc(context, 'SensorService/Publish', {
					sensorId: id,
					blocks: [{ attributeId: 'ecg', startTimeUs: String(t), sampleRateHz: 250, samples }],
					measurements: [
						{ attributeId: 'heartrate', timeUs: String(t), number: 60 + ((k * 7) % 30) }
					]
				}).catch(() => {});
			}
			t += 200_000;
			k++;
			await new Promise((r) => setTimeout(r, 200));
		}
	})();
	return { ids, stop: async () => ((stopped = true), await loop) };
}

async function newPage(options = {}) {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
	await signInAsGuest(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	return { context, page, errors };
}

async function shot(page, name, dark) {
	await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
	await page.waitForTimeout(400);
	await page.screenshot({
		path: join(artifactsDir, `${name}-${dark ? 'dark' : 'light'}.png`),
		fullPage: true
	});
}

test('simulation → live lobby → ECG lens → attention falls off screen → history', async () => {
	const { context, page, errors } = await newPage();
	let fallback;
	try {
		// 1. Start a scenario on /simulator (or publish our own data without a simulator).
		await page.goto(server.url + '/simulator');
		await page.getByRole('heading', { level: 1, name: 'Simulator' }).waitFor();
		const card = page.locator('[data-testid="scenario"][data-name="small_group"]');
		const unavailable = page.getByTestId('simulator-unavailable');
		await Promise.race([
			card.waitFor({ timeout: 15_000 }),
			unavailable.waitFor({ timeout: 15_000 })
		]);
		if (await card.isVisible()) {
			await card.getByRole('button', { name: 'Start' }).click();
			await card.getByTestId('running-badge').waitFor({ timeout: 15_000 });
			const first = Number(
				(await card.getByTestId('samples-sent').textContent())?.replace(/,/g, '')
			);
			await waitFor(
				async () =>
					Number((await card.getByTestId('samples-sent').textContent())?.replace(/,/g, '')) > first,
				{ timeoutMs: 15_000, what: 'samples sent to grow (polled every 2 s)' }
			);
			await page.screenshot({ path: join(artifactsDir, 'simulator.png'), fullPage: true });
		} else {
			fallback = await publishFallback(context, 5);
		}

		// 2. The lobby shows tiles whose values change.
		await page.goto(server.url + '/lobby');
		const tiles = page.getByTestId('sensor-tile');
		await waitFor(async () => (await tiles.count()) >= 5, { timeoutMs: 20_000, what: '5 tiles' });
		const value = page.locator('[data-testid="attr-value"][data-attribute="ecg"]').first();
		// A number with its unit (a waveform's latest sample is a number like any other).
		await waitFor(async () => /\d\s*mV/.test((await value.textContent()) ?? ''), {
			what: 'an ECG value in mV'
		});
		const before = await value.textContent();
		await waitFor(async () => (await value.textContent()) !== before, {
			timeoutMs: 10_000,
			what: 'the value to change'
		});
		await page.waitForTimeout(2500); // let sparklines fill a little for the screenshot
		await shot(page, 'lobby', false);
		await shot(page, 'lobby', true);

		// 3. The ECG lens draws waveforms that advance.
		await page
			.getByRole('navigation', { name: 'Lobby views' })
			.getByRole('link', { name: 'ECG' })
			.click();
		await page.waitForURL('**/lobby/ecg');
		const trace = page.getByTestId('ecg-trace').first();
		await trace.waitFor({ timeout: 15_000 });
		const pixels = () =>
			trace.locator('canvas').evaluate((c) => /** @type {HTMLCanvasElement} */ (c).toDataURL());
		await waitFor(async () => (await trace.getAttribute('data-samples')) !== '0', {
			what: 'ECG samples'
		});
		const s0 = Number(await trace.getAttribute('data-samples'));
		const p0 = await pixels();
		await waitFor(
			async () => Number(await trace.getAttribute('data-last')) > 0 && (await pixels()) !== p0,
			{
				timeoutMs: 10_000,
				what: 'the ECG trace to move'
			}
		);
		await waitFor(async () => Number(await trace.getAttribute('data-samples')) > s0, {
			what: 'more ECG samples'
		});
		assert.equal(await trace.getAttribute('data-gaps'), '0', 'no gaps between ECG blocks');
		await page.waitForTimeout(1500);
		await shot(page, 'ecg-lens', false);
		await shot(page, 'ecg-lens', true);

		// 4. A tile scrolled out of view falls from MEDIUM (or HIGH) attention.
		await page.setViewportSize({ width: 390, height: 640 });
		await page.goto(server.url + '/lobby');
		// The grid is virtualised: on a phone only the tiles in view (and a row beyond) exist.
		await waitFor(
			async () =>
				Number((await page.getByTestId('lobby-count').textContent())?.match(/of (\d+)/)?.[1]) >=
					5 && (await tiles.count()) >= 1,
			{ what: 'tiles on a phone' }
		);
		const firstTile = tiles.first();
		const sensorId = await firstTile.getAttribute('data-sensor-id');
		await page.mouse.move(5, 5); // keep the pointer away from the tiles (over the header)
		const level = async () =>
			(await rpc(context, 'AttentionService/GetAttention', { sensorId })).attention?.level ??
			'ATTENTION_LEVEL_NONE';
		await waitFor(
			async () => ['ATTENTION_LEVEL_MEDIUM', 'ATTENTION_LEVEL_HIGH'].includes(await level()),
			{
				timeoutMs: 10_000,
				what: 'MEDIUM attention while in view'
			}
		);
		await page.screenshot({ path: join(artifactsDir, 'lobby-phone.png') });
		await tiles.last().scrollIntoViewIfNeeded();
		await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
		// The first sensor's tile is out of the viewport (or, virtualised, gone).
		assert.equal(
			await page.evaluate((id) => {
				const el = document.querySelector(`[data-testid="sensor-tile"][data-sensor-id="${id}"]`);
				return !el || el.getBoundingClientRect().bottom <= 0;
			}, sensorId),
			true
		);
		await waitFor(
			async () => ['ATTENTION_LEVEL_LOW', 'ATTENTION_LEVEL_NONE'].includes(await level()),
			{
				timeoutMs: 15_000,
				what: 'attention to fall to LOW/NONE once scrolled away'
			}
		);
		// And the badge in the page follows when it comes back.
		await page.evaluate(() => window.scrollTo(0, 0));
		await waitFor(
			async () => ['ATTENTION_LEVEL_MEDIUM', 'ATTENTION_LEVEL_HIGH'].includes(await level()),
			{
				timeoutMs: 10_000,
				what: 'attention back when visible'
			}
		);

		// 5. A sensor page with an hour of history.
		await page.setViewportSize({ width: 1280, height: 860 });
		await firstTile.getByRole('link').first().click();
		await page.waitForURL('**/sensors/**');
		await page.getByTestId('detail-value').first().waitFor();
		await page.getByLabel('Last hour').check();
		const summary = page.getByTestId('history-summary');
		await waitFor(async () => /\d+ points/.test((await summary.textContent()) ?? ''), {
			what: 'history loaded'
		});
		const chart = page.getByTestId('history-chart');
		await waitFor(async () => Number(await chart.getAttribute('data-points')) > 0, {
			what: 'history points'
		});
		await page.waitForTimeout(1500);
		await shot(page, 'sensor', false);
		await shot(page, 'sensor', true);
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'lobby-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await fallback?.stop();
		await context.close();
	}
});

test('Sense page publishes a faked geolocation that appears in the lobby', async () => {
	const { context, page, errors } = await newPage({
		permissions: ['geolocation'],
		geolocation: { latitude: 47.3769, longitude: 8.5417, accuracy: 12 }
	});
	try {
		await page.goto(server.url + '/sense');
		await page.getByTestId('device-name').fill('E2E phone');
		await page.getByTestId('toggle-location').click();
		await page.getByTestId('latest-location').waitFor();
		assert.match(
			(await page.getByTestId('latest-location').textContent()) ?? '',
			/47\.37690, 8\.54170/
		);
		await waitFor(async () => Number(await page.getByTestId('sent').textContent()) > 0, {
			timeoutMs: 15_000,
			what: 'the position to be sent'
		});
		await page.screenshot({ path: join(artifactsDir, 'sense.png'), fullPage: true });
		await page.goto(server.url + '/lobby');
		const tile = page.getByTestId('sensor-tile').filter({ hasText: 'E2E phone' });
		await tile.waitFor({ timeout: 15_000 });
		const v = tile.locator('[data-testid="attr-value"][data-attribute="geolocation"]');
		await waitFor(async () => /47\.3769/.test((await v.textContent()) ?? ''), {
			what: 'the position in the tile'
		});
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'sense-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});

test('pins and favourites from two tabs are both saved, and each tab shows the other', async () => {
	const { context, page: a, errors } = await newPage();
	const b = await context.newPage();
	b.on('pageerror', (err) => errors.push(err));
	try {
		for (const n of [1, 2]) {
			await rpc(context, 'SensorService/RegisterSensor', {
				sensorId: `e2e-pref-${n}`,
				name: `Pref ${n}`,
				sensorType: 'prefs',
				attributes: [{ attributeId: 'level', attributeType: 'level' }]
			});
		}
		const tile = (page, n) => page.getByTestId('sensor-tile').filter({ hasText: `Pref ${n}` });
		for (const p of [a, b]) {
			await p.goto(server.url + '/lobby');
			await tile(p, 2).waitFor();
		}
		// Both tabs loaded the same (empty) preferences; each changes something else at once.
		await Promise.all([
			tile(a, 1).getByRole('button', { name: 'Pin Pref 1' }).click(),
			(async () => {
				// One after the other: pinning moves the tile to the top.
				await tile(b, 2).getByRole('button', { name: 'Favourite Pref 2' }).click();
				await tile(b, 2).getByRole('button', { name: 'Pin Pref 2' }).click();
			})()
		]);
		const prefs = async () => (await rpc(context, 'AuthService/GetMe', {})).user?.preferences ?? {};
		await waitFor(
			async () => {
				const p = await prefs();
				return (
					JSON.stringify([...(p.pinnedSensors ?? [])].sort()) ===
						JSON.stringify(['e2e-pref-1', 'e2e-pref-2']) &&
					JSON.stringify(p.favoriteSensors) === JSON.stringify(['e2e-pref-2'])
				);
			},
			{ what: 'both tabs’ changes saved' }
		).catch(async (err) => {
			throw new Error(`preferences: ${JSON.stringify(await prefs())}`, { cause: err });
		});
		// Each tab shows the other's change without a reload.
		const pressed = (page, n, what) =>
			tile(page, n)
				.getByRole('button', { name: `${what} Pref ${n}` })
				.getAttribute('aria-pressed');
		await waitFor(async () => (await pressed(b, 1, 'Pin')) === 'true', {
			what: 'tab B shows pin 1'
		});
		await waitFor(async () => (await pressed(a, 2, 'Favourite')) === 'true', {
			what: 'tab A shows favourite 2'
		});
		assert.equal(await pressed(a, 2, 'Pin'), 'true');
		assert.deepEqual(errors, []);
	} finally {
		await context.close();
	}
});
