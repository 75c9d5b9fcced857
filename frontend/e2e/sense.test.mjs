// End-to-end: the Sense page with faked device APIs (page.addInitScript): device motion
// (DeviceMotionEvent.requestPermission and dispatched devicemotion events), the Battery
// Status API (a fake BatteryManager) and Web Bluetooth (a fake heart-rate monitor whose
// characteristic notifies Heart Rate Measurement values). The values must reach the
// server (GetHistory). A browser without the APIs, or a user who refuses, gets a clear
// explanation.
import assert from 'node:assert/strict';
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
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

async function guest(init) {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	if (init) await context.addInitScript(init);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	const rpc = rpcAs(context, server.url);
	/** The attribute's values the server holds for this sensor (GetHistory, last 10 min). */
	const history = async (sensorId, attributeId) => {
		const now = Date.now() * 1000;
		const res = await rpc('SensorService/GetHistory', {
			sensorId,
			attributeId,
			fromUs: String(now - 600_000_000),
			toUs: String(now + 60_000_000),
			maxPoints: 1000
		});
		return res.points ?? [];
	};
	return { context, page, errors, rpc, history };
}

/** Fakes installed before the app loads: motion permission, a battery, a Bluetooth strap. */
function fakeDevices() {
	// Motion: iOS-style permission prompt, answered "granted" (and remembered as asked).
	Object.defineProperty(DeviceMotionEvent, 'requestPermission', {
		configurable: true,
		value: async () => {
			window.__motionAsked = true;
			return 'granted';
		}
	});
	// Battery: a BatteryManager-like EventTarget the test changes through window.__battery.
	const battery = Object.assign(new EventTarget(), {
		level: 0.42,
		charging: true,
		chargingTime: 0,
		dischargingTime: Infinity
	});
	window.__battery = battery;
	Object.defineProperty(Navigator.prototype, 'getBattery', {
		configurable: true,
		value: async () => battery
	});
	// Bluetooth: a heart-rate strap; window.__hr(bytes) notifies a measurement.
	const ch = Object.assign(new EventTarget(), {
		value: undefined,
		async startNotifications() {
			window.__hr = (bytes) => {
				ch.value = new DataView(new Uint8Array(bytes).buffer);
				ch.dispatchEvent(new Event('characteristicvaluechanged'));
			};
			return ch;
		},
		async stopNotifications() {
			return ch;
		}
	});
	const dev = Object.assign(new EventTarget(), { id: 'fake', name: 'Fake strap' });
	dev.gatt = {
		connected: false,
		async connect() {
			this.connected = true;
			return {
				async getPrimaryService(s) {
					if (s !== 'heart_rate' && s !== 0x180d)
						throw new DOMException('no such service', 'NotFoundError');
					return {
						async getCharacteristic(c) {
							if (c !== 'heart_rate_measurement' && c !== 0x2a37)
								throw new DOMException('no such characteristic', 'NotFoundError');
							return ch;
						}
					};
				}
			};
		},
		disconnect() {
			this.connected = false;
			window.__disconnected = true;
		}
	};
	Object.defineProperty(Navigator.prototype, 'bluetooth', {
		configurable: true,
		get: () => ({
			async requestDevice(options) {
				window.__btOptions = options;
				return dev;
			}
		})
	});
}

const sensorIdOf = async (page) => (await page.locator('.intro code').textContent())?.trim();

test('Sense publishes faked device motion and battery', async () => {
	const { context, page, errors, history } = await guest(fakeDevices);
	try {
		await page.goto(server.url + '/sense');
		await page.getByTestId('device-name').fill('E2E motion');
		const id = await sensorIdOf(page);
		assert.ok(id);

		await page.getByTestId('toggle-battery').click();
		await waitFor(
			async () => (await page.getByTestId('latest-battery').textContent())?.includes('42 %'),
			{ what: 'the battery level on the page' }
		);
		assert.match((await page.getByTestId('latest-battery').textContent()) ?? '', /charging/);
		await page.evaluate(() => {
			const b = /** @type {any} */ (window).__battery;
			b.level = 0.41;
			b.charging = false;
			b.dispatchEvent(new Event('levelchange'));
			b.dispatchEvent(new Event('chargingchange'));
		});
		await waitFor(
			async () => /41 %$/.test((await page.getByTestId('latest-battery').textContent())?.trim()),
			{ what: 'the new battery level' }
		);

		await page.getByTestId('toggle-motion').click();
		await page.getByTestId('toggle-motion').getByText('Stop').waitFor();
		assert.equal(await page.evaluate(() => /** @type {any} */ (window).__motionAsked), true);
		await page.evaluate(async () => {
			for (let i = 0; i < 20; i++) {
				window.dispatchEvent(
					new DeviceMotionEvent('devicemotion', {
						accelerationIncludingGravity: { x: 1, y: 2, z: 9.81 },
						rotationRate: { alpha: 10, beta: 20, gamma: 30 },
						interval: 16
					})
				);
				await new Promise((r) => setTimeout(r, 50));
			}
		});
		await waitFor(
			async () =>
				/a 1\.0, 2\.0, 9\.8/.test((await page.getByTestId('latest-motion').textContent()) ?? ''),
			{ what: 'the motion on the page' }
		);

		// On the server: battery 42 then 41, accelerometer and gyroscope vectors.
		await waitFor(
			async () => {
				const b = (await history(id, 'battery')).map((p) => p.number);
				return b.includes(42) && b.at(-1) === 41;
			},
			{ timeoutMs: 15_000, what: 'battery 42 and 41 on the server' }
		);
		const acc = await waitFor(
			async () => {
				const pts = await history(id, 'accelerometer');
				return pts.length > 0 && pts;
			},
			{ timeoutMs: 15_000, what: 'accelerometer values on the server' }
		);
		assert.deepEqual(acc.at(-1).vector3, { x: 1, y: 2, z: 9.81 });
		const gyro = await waitFor(
			async () => {
				const pts = await history(id, 'gyroscope');
				return pts.length > 0 && pts;
			},
			{ timeoutMs: 15_000, what: 'gyroscope values on the server' }
		);
		// x, y, z are the rotation rates about the device's x (beta), y (gamma), z (alpha).
		assert.deepEqual(gyro.at(-1).vector3, { x: 20, y: 30, z: 10 });
		await page.screenshot({ path: join(artifactsDir, 'sense-motion-battery.png'), fullPage: true });

		// The battery history on the sensor page (a screenshot to look at).
		await page.goto(`${server.url}/sensors/${id}`);
		await page.getByTestId('history-attribute').selectOption('battery');
		await waitFor(
			async () => Number(await page.getByTestId('history-chart').getAttribute('data-points')) > 0,
			{ what: 'battery history points' }
		);
		await page.waitForTimeout(500);
		await page.screenshot({
			path: join(artifactsDir, 'sensor-battery-history.png'),
			fullPage: true
		});
		// The back-pressure stream opened only after the sensor was registered: the server
		// never refused it as an unknown sensor.
		const refusedWatch = server
			.logs()
			.split('\n')
			.filter((l) => l.includes('WatchBackpressure') && /not_found/.test(l));
		assert.deepEqual(refusedWatch, []);
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'sense-motion-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});

test('Sense decodes a Bluetooth heart-rate monitor (8/16-bit, RR, energy, contact)', async () => {
	const { context, page, errors, history } = await guest(fakeDevices);
	try {
		await page.goto(server.url + '/sense');
		await page.getByTestId('device-name').fill('E2E strap');
		const id = await sensorIdOf(page);
		await page.getByTestId('toggle-heart').click();
		const latest = page.getByTestId('latest-heart');
		await waitFor(async () => (await latest.textContent())?.includes('Connected to Fake strap'), {
			what: 'the strap connected'
		});
		const options = await page.evaluate(() => /** @type {any} */ (window).__btOptions);
		assert.deepEqual(options.filters, [{ services: ['heart_rate'] }]);

		const notify = async (bytes, shown) => {
			await page.evaluate((b) => /** @type {any} */ (window).__hr(b), bytes);
			await waitFor(async () => shown.test((await latest.textContent()) ?? ''), {
				what: `the page to show ${shown}`
			});
			await page.waitForTimeout(20); // distinct timestamps (ms) per measurement
		};
		// 8-bit rate, contact detected, two RR intervals (1024/1024 s, 512/1024 s).
		await notify([0x16, 72, 0x00, 0x04, 0x00, 0x02], /^72 bpm · RR 1000, 500 ms$/);
		// 16-bit rate, contact supported and detected.
		await notify([0x07, 0xb4, 0x00], /^180 bpm$/);
		// 16-bit rate, contact supported but not detected: shown, not sent.
		await notify([0x05, 0x5a, 0x00], /No skin contact \(90 bpm\)/);
		// 16-bit rate with energy expended and one RR interval (768/1024 s).
		await notify([0x19, 0x50, 0x00, 0x10, 0x00, 0x00, 0x03], /^80 bpm · RR 750 ms · 16 kJ$/);

		await waitFor(
			async () =>
				JSON.stringify((await history(id, 'heartrate')).map((p) => p.number)) ===
				JSON.stringify([72, 180, 80]),
			{ timeoutMs: 15_000, what: 'heart rates 72, 180, 80 (not 90) on the server' }
		);
		await waitFor(
			async () =>
				JSON.stringify((await history(id, 'rr_interval')).map((p) => p.number)) ===
				JSON.stringify([1000, 500, 750]),
			{ timeoutMs: 15_000, what: 'RR intervals 1000, 500, 750 ms on the server' }
		);
		assert.deepEqual(
			(await history(id, 'energy_expended')).map((p) => p.number),
			[16]
		);
		await page.screenshot({ path: join(artifactsDir, 'sense-heart.png'), fullPage: true });

		await page.getByTestId('toggle-heart').click();
		await waitFor(async () => page.evaluate(() => /** @type {any} */ (window).__disconnected), {
			what: 'the strap disconnected on stop'
		});
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'sense-heart-failure.png'), fullPage: true });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});

test('Sense explains a missing API and a refused permission', async () => {
	// A browser without the APIs.
	const bare = await guest(() => {
		delete Navigator.prototype.getBattery;
		delete Navigator.prototype.bluetooth;
		delete Navigator.prototype.geolocation;
		delete window.DeviceMotionEvent;
	});
	try {
		await bare.page.goto(server.url + '/sense');
		for (const [source, why] of [
			['location', /no Geolocation API/],
			['motion', /no device motion/],
			['battery', /no Battery Status API/],
			['heart', /no Web Bluetooth/]
		]) {
			const card = bare.page.getByTestId(`source-${source}`);
			assert.match((await card.getByRole('status').textContent()) ?? '', why);
			assert.equal(await card.getByRole('button').count(), 0, `${source}: no start button`);
		}
		await bare.page.screenshot({ path: join(artifactsDir, 'sense-missing.png'), fullPage: true });
		assert.deepEqual(bare.errors, []);
	} finally {
		await bare.context.close();
	}

	// A user who refuses: motion permission, the Bluetooth chooser, location.
	const refusing = await guest(() => {
		Object.defineProperty(DeviceMotionEvent, 'requestPermission', {
			configurable: true,
			value: async () => 'denied'
		});
		Object.defineProperty(Navigator.prototype, 'bluetooth', {
			configurable: true,
			get: () => ({
				requestDevice: async () => {
					throw new DOMException('User cancelled the requestDevice() chooser.', 'NotFoundError');
				}
			})
		});
	});
	try {
		const { page } = refusing;
		await page.goto(server.url + '/sense');
		for (const [source, why] of [
			['motion', /Motion permission was denied/],
			['heart', /No heart-rate monitor was chosen/],
			['location', /Location permission was denied/]
		]) {
			const card = page.getByTestId(`source-${source}`);
			await page.getByTestId(`toggle-${source}`).click();
			await waitFor(async () => why.test((await card.getByRole('alert').textContent()) ?? ''), {
				what: `${source}: ${why}`
			});
		}
		assert.deepEqual(refusing.errors, []);
	} finally {
		await refusing.context.close();
	}
});
