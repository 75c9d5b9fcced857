// End-to-end: lenses that draw what their sensors send. The pose lens draws a stick
// figure whose bones join the published landmarks; the gaze lens plots recent gaze
// points; on a phone the Location lens streams the sensors on its map without the list
// below being scrolled into view, lists partial positions with what they have, and
// places marker labels without overlap.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
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
	server = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1000' } });
	browser = await launchBrowser();
	await mkdir(artifactsDir, { recursive: true });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/** MediaPipe Pose's connections (POSE_CONNECTIONS): the bones of the figure. */
const CONNECTIONS = [
	[0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5], [5, 6], [6, 8], [9, 10],
	[11, 12], [11, 13], [13, 15], [12, 14], [14, 16],
	[15, 17], [15, 19], [15, 21], [17, 19], [16, 18], [16, 20], [16, 22], [18, 20],
	[11, 23], [12, 24], [23, 24],
	[23, 25], [25, 27], [27, 29], [29, 31], [27, 31], [24, 26], [26, 28], [28, 30], [30, 32], [28, 32]
]; // prettier-ignore

/** A person standing with arms out; landmark 32 (a foot tip) is not visible. */
function tPose() {
	/** @type {[number, number][]} */
	const p = [
		[0.5, 0.2], // 0 nose
		[0.49, 0.19], [0.485, 0.19], [0.48, 0.19], // 1–3 left eye
		[0.51, 0.19], [0.515, 0.19], [0.52, 0.19], // 4–6 right eye
		[0.47, 0.2], [0.53, 0.2], // 7, 8 ears
		[0.49, 0.22], [0.51, 0.22], // 9, 10 mouth
		[0.58, 0.3], [0.42, 0.3], // 11, 12 shoulders
		[0.68, 0.3], [0.32, 0.3], // 13, 14 elbows
		[0.78, 0.3], [0.22, 0.3], // 15, 16 wrists
		[0.8, 0.31], [0.2, 0.31], [0.81, 0.3], [0.19, 0.3], [0.79, 0.29], [0.21, 0.29], // 17–22 hands
		[0.55, 0.55], [0.45, 0.55], // 23, 24 hips
		[0.56, 0.7], [0.44, 0.7], // 25, 26 knees
		[0.57, 0.85], [0.43, 0.85], // 27, 28 ankles
		[0.56, 0.87], [0.44, 0.87], // 29, 30 heels
		[0.6, 0.88], [0.4, 0.88] // 31, 32 foot tips
	]; // prettier-ignore
	return p.map(([x, y], i) => ({ x, y, v: i === 32 ? 0.1 : 0.98 }));
}

test('the pose lens draws a stick figure whose bones join the landmarks; tiles draw it too', async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const rpc = rpcAs(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	const id = 'e2e-pose';
	const landmarks = tPose();
	try {
		await rpc('SensorService/RegisterSensor', {
			sensorId: id,
			name: 'Pose model',
			sensorType: 'camera',
			attributes: [{ attributeId: 'skeleton', attributeType: 'skeleton', sampleRateHz: 15 }]
		});
		const publish = () =>
			rpc('SensorService/Publish', {
				sensorId: id,
				measurements: [
					{
						attributeId: 'skeleton',
						timeUs: String(Date.now() * 1000),
						structValue: { landmarks }
					}
				]
			});
		await publish();
		await page.goto(`${server.url}/lobby/pose`);
		const card = page.getByTestId('pose-card').filter({ hasText: 'Pose model' });
		await card.waitFor();
		const bones = card.getByTestId('pose-bones');
		await waitFor(
			async () => {
				await publish();
				return Number(await bones.getAttribute('data-bones')) > 0;
			},
			{ timeoutMs: 20_000, intervalMs: 500, what: 'the figure to be drawn' }
		);
		// Every connection between visible landmarks is one segment, from one landmark's
		// position to the other's (in the square the figure is drawn in).
		const d = (await bones.getAttribute('d')) ?? '';
		const segs = [...d.matchAll(/M(-?[\d.]+) (-?[\d.]+)L(-?[\d.]+) (-?[\d.]+)/g)].map((m) =>
			m.slice(1).map(Number)
		);
		const want = CONNECTIONS.filter(([a, b]) => a !== 32 && b !== 32);
		assert.equal(segs.length, want.length, `${want.length} bones (none to the hidden foot tip)`);
		const box = await card.getByTestId('pose-figure').boundingBox();
		assert.ok(box);
		const size = Math.min(box.width, box.height) - 8;
		const left = (box.width - size) / 2;
		const top = (box.height - size) / 2;
		const at = (i) => [left + landmarks[i].x * size, top + landmarks[i].y * size];
		for (const [k, [a, b]] of want.entries()) {
			const [x1, y1, x2, y2] = segs[k];
			const [ex1, ey1] = at(a);
			const [ex2, ey2] = at(b);
			assert.ok(
				Math.hypot(x1 - ex1, y1 - ey1) < 0.6 && Math.hypot(x2 - ex2, y2 - ey2) < 0.6,
				`bone ${a}–${b} drawn from (${x1}, ${y1}) to (${x2}, ${y2}), want (${ex1}, ${ey1}) to (${ex2}, ${ey2})`
			);
		}
		assert.match(
			(await card.getByTestId('pose-visible').textContent()) ?? '',
			/32 of 33 landmarks visible/
		);
		await page.screenshot({ path: join(artifactsDir, 'lens-pose.png'), fullPage: true });

		// The lobby tile draws the figure instead of "landmarks [33]".
		await page.goto(`${server.url}/lobby`);
		const tile = page.locator(`[data-testid="sensor-tile"][data-sensor-id="${id}"]`);
		await tile.waitFor();
		await waitFor(
			async () => {
				await publish();
				return (
					Number(await tile.getByTestId('pose-bones').getAttribute('data-bones')) === want.length
				);
			},
			{ timeoutMs: 20_000, intervalMs: 500, what: 'the tile to draw the figure' }
		);
		assert.doesNotMatch((await tile.textContent()) ?? '', /\[33\]/);
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'lens-pose-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});

test('the gaze lens plots the recent gaze points in the image box', async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const rpc = rpcAs(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	const id = 'e2e-gaze';
	try {
		await rpc('SensorService/RegisterSensor', {
			sensorId: id,
			name: 'Gaze model',
			sensorType: 'eye_tracker',
			attributes: [{ attributeId: 'eye_gaze', attributeType: 'eye_gaze', sampleRateHz: 50 }]
		});
		// A square path around the image: four corners, 20 points each, ending at (0.8, 0.2).
		let k = 0;
		const corners = [
			[0.2, 0.2],
			[0.2, 0.8],
			[0.8, 0.8],
			[0.8, 0.2]
		];
		const publish = () => {
			const now = Date.now() * 1000;
			const measurements = Array.from({ length: 20 }, (_, i) => {
				const [x, y] = corners[(k + Math.floor(i / 5)) % 4];
				return {
					attributeId: 'eye_gaze',
					timeUs: String(now - (19 - i) * 20_000),
					structValue: { x, y, confidence: 0.95 }
				};
			});
			k = 0;
			return rpc('SensorService/Publish', { sensorId: id, measurements });
		};
		await publish();
		await page.goto(`${server.url}/lobby/gaze`);
		const card = page.getByTestId('gaze-card').filter({ hasText: 'Gaze model' });
		await card.waitFor();
		const plot = card.getByTestId('gaze-plot');
		await waitFor(
			async () => {
				await publish();
				return /looking at 80 % across, 20 % down/.test(
					(await plot.getAttribute('aria-label')) ?? ''
				);
			},
			{ timeoutMs: 20_000, intervalMs: 500, what: 'the plot to name the last gaze point' }
		);
		// The trail visits the corners: points spread over the box, not a block.
		const { w, h, pts } = await plot.evaluate((svg) => {
			const d = [...svg.querySelectorAll('path.trail')].map((p) => p.getAttribute('d')).join('');
			return {
				w: Number(svg.getAttribute('width')),
				h: Number(svg.getAttribute('height')),
				pts: [...d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])])
			};
		});
		assert.ok(pts.length >= 4, `${pts.length} trail points`);
		const near = (x, y) => pts.some(([px, py]) => Math.hypot(px - x * w, py - y * h) < 1);
		for (const [x, y] of corners) assert.ok(near(x, y), `the trail passes (${x}, ${y})`);
		await page.screenshot({ path: join(artifactsDir, 'lens-gaze.png'), fullPage: true });
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'lens-gaze-failure.png'), fullPage: true });
		throw err;
	} finally {
		await context.close();
	}
});

test('on a phone the Location lens streams the sensors on its map without scrolling; partial positions; labels apart', async (t) => {
	const context = await browser.newContext({
		viewport: { width: 390, height: 844 },
		deviceScaleFactor: 2,
		isMobile: true,
		hasTouch: true
	});
	await signInAsGuest(context, server.url);
	const rpc = rpcAs(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	try {
		const res = await context.request.post(
			`${server.url}/sensocto.v1.SimulatorService/StartScenario`,
			{ headers: { 'Content-Type': 'application/json' }, data: { name: 'gps_tracking' } }
		);
		if (res.status() === 404) return t.skip('this server has no simulator');
		assert.ok(res.ok(), `start gps_tracking: ${res.status()} ${await res.text()}`);
		// Two sensors at one spot (their labels would cover each other), one without
		// altitude or accuracy, one with a latitude only.
		const spot = { latitude: 52.505, longitude: 13.43 };
		for (const [id, name, attributes, value] of [
			['e2e-twin-a', 'Twin A', [{ attributeId: 'geolocation', attributeType: 'geolocation' }], { geo: { ...spot, accuracyM: 40 } }],
			['e2e-twin-b', 'Twin B', [{ attributeId: 'geolocation', attributeType: 'geolocation' }], { geo: spot }],
			['e2e-lat-only', 'Latitude only', [{ attributeId: 'latitude', attributeType: 'geolocation_lat' }], { number: 52.52 }]
		]) {
			await rpc('SensorService/RegisterSensor', { sensorId: id, name, sensorType: 'phone', attributes });
			await rpc('SensorService/Publish', {
				sensorId: id,
				measurements: [{ attributeId: attributes[0].attributeId, timeUs: String(Date.now() * 1000), ...value }]
			});
		} // prettier-ignore

		await page.goto(`${server.url}/lobby/location`);
		await page.getByTestId('location-map').waitFor();
		// The walker's list entry is below the fold: if it is in view, it is through the map.
		const walkerItem = page.getByRole('listitem').filter({ hasText: 'Walker' });
		await walkerItem.waitFor();
		const below = await walkerItem.boundingBox();
		assert.ok(
			below && below.y >= 844,
			`the walker's list entry is below the fold (at ${below?.y})`
		);
		const watching = page.getByTestId('watching');
		await waitFor(async () => Number(/(\d+)/.exec((await watching.textContent()) ?? '')?.[1]) > 0, {
			timeoutMs: 20_000,
			what: 'sensors streaming from the map'
		});
		await waitFor(async () => (await page.locator('.leaflet-tooltip').count()) >= 5, {
			timeoutMs: 20_000,
			what: 'markers of the three tracks and both twins'
		});
		const { sensors } = await rpc('SensorService/ListSensors', {});
		const walker = sensors.find((s) => s.name.includes('Walker'));
		assert.ok(walker, 'the walker of gps_tracking');
		await waitFor(
			async () =>
				(await rpc('AttentionService/GetAttention', { sensorId: walker.sensorId })).attention
					?.level === 'ATTENTION_LEVEL_MEDIUM',
			{ timeoutMs: 15_000, what: 'the walker in view through the map' }
		);
		assert.equal(await page.evaluate(() => window.scrollY), 0, 'nothing scrolled');
		await page.screenshot({ path: join(artifactsDir, 'lens-location-phone.png') });

		// Labels of markers on one spot are placed apart; no two shown labels overlap.
		await page.getByRole('button', { name: 'Fit all' }).click();
		await page.waitForTimeout(500);
		const rects = await page.$$eval('.leaflet-tooltip:not(.label-hidden)', (els) =>
			els.map((e) => {
				const r = e.getBoundingClientRect();
				return { text: e.textContent, l: r.left, r: r.right, t: r.top, b: r.bottom };
			})
		);
		for (const [i, a] of rects.entries())
			for (const b of rects.slice(i + 1))
				assert.ok(
					a.r <= b.l || b.r <= a.l || a.b <= b.t || b.b <= a.t,
					`labels ${a.text} and ${b.text} overlap`
				);
		const twins = rects.filter((r) => /Twin/.test(r.text ?? ''));
		assert.equal(twins.length, 2, 'both twins labelled');

		// Partial positions: what each has, nothing made up.
		const item = (name) => page.getByRole('listitem').filter({ hasText: name });
		await waitFor(
			async () => /latitude 52\.52000 only/.test((await item('Latitude only').textContent()) ?? ''),
			{
				timeoutMs: 15_000,
				what: 'the latitude-only sensor listed with its latitude'
			}
		);
		assert.match((await item('Twin A').textContent()) ?? '', /52\.5050, 13\.4300.*±40 m/);
		assert.equal(
			await item('Twin B').getByTestId('position-extra').count(),
			0,
			'no accuracy or altitude made up'
		);
		await page.screenshot({
			path: join(artifactsDir, 'lens-location-phone-list.png'),
			fullPage: true
		});
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({
			path: join(artifactsDir, 'lens-location-phone-failure.png'),
			fullPage: true
		});
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});
