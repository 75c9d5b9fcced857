// End-to-end: what a newcomer meets (issue 12) on a server running the single_person demo,
// as `go tool task run` starts it: the demo's Stop is not offered to a guest; the guest's
// own run of the same scenario gives sensors of the same name that tiles, lenses and the
// sensor page tell apart; a sensor that stopped sending does not show "streaming" after a
// page load; the phone header is slim and the lens tabs scroll with a hint; no attention
// report is refused after signing out. Screenshots at desktop and phone size, light and dark.
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
	server = await startServer({
		env: { SENSOCTO_DEMO_SCENARIO: 'single_person', SENSOCTO_AUTH_RATE_LIMIT: '1000' }
	});
	browser = await launchBrowser();
	await mkdir(artifactsDir, { recursive: true });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

async function guest(viewport = { width: 1920, height: 1080 }) {
	const context = await browser.newContext({ viewport, colorScheme: 'light' });
	await signInAsGuest(context, server.url);
	const page = await context.newPage();
	/** @type {Error[]} */
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	return { context, page, errors };
}

async function shots(page, name) {
	for (const dark of [false, true]) {
		await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
		await page.screenshot({
			path: join(artifactsDir, `${name}-${dark ? 'dark' : 'light'}.png`),
			fullPage: false
		});
	}
	await page.emulateMedia({ colorScheme: 'light' });
}

async function failing(page, name, fn) {
	try {
		await fn();
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, `${name}-failure.png`), fullPage: true });
		console.error(server.logs().slice(-4000));
		throw err;
	}
}

test("the demo's Stop is not offered to a guest; its own run's sensors are told apart from the demo's", async () => {
	const { context, page, errors } = await guest();
	await failing(page, 'newcomer-demo', async () => {
		await page.goto(server.url + '/simulator');
		const card = page.locator('[data-testid="scenario"][data-name="single_person"]');
		await card.getByTestId('demo-badge').waitFor({ timeout: 20_000 });
		// Running for everyone, but not this guest's: no Stop, a Start of its own instead.
		assert.equal(await card.getByRole('button', { name: 'Stop' }).count(), 0);
		await card.getByTestId('demo-note').waitFor();
		await shots(page, 'newcomer-simulator');
		await card.getByRole('button', { name: 'Start' }).click();
		await card.getByTestId('running-badge').waitFor({ timeout: 20_000 });
		await card.getByRole('button', { name: 'Stop' }).waitFor();

		// The lobby: the demo's first person and the guest's copy have the same name, and
		// their tiles say whose and where from.
		await page.goto(server.url + '/lobby');
		const demoTile = page.locator(
			'[data-testid="sensor-tile"][data-sensor-id="sim.single_person.person_1"]'
		);
		const ownTile = page.locator(
			'[data-testid="sensor-tile"][data-sensor-id$=".single_person.person_1"]:not([data-sensor-id="sim.single_person.person_1"])'
		);
		await demoTile.waitFor({ timeout: 20_000 });
		await ownTile.waitFor({ timeout: 20_000 });
		const name = async (t) => (await t.locator('a.name').textContent())?.trim();
		assert.equal(await name(demoTile), await name(ownTile), 'the same name');
		const demoOrigin = (await demoTile.getByTestId('sensor-origin').textContent())?.trim();
		const ownOrigin = (await ownTile.getByTestId('sensor-origin').textContent())?.trim();
		assert.match(demoOrigin ?? '', /demo/);
		assert.match(ownOrigin ?? '', /you/);
		assert.notEqual(demoOrigin, ownOrigin);
		// Labels come from the catalogue: "ECG", "Heart rate", "Systolic BP".
		const label = (id) =>
			ownTile.locator('li', { has: page.locator(`[data-attribute="${id}"]`) }).locator('.label');
		await label('ecg').waitFor();
		assert.equal((await label('ecg').textContent())?.trim(), 'ECG');
		assert.equal((await label('heartrate').textContent())?.trim(), 'Heart rate');
		await waitFor(
			async () => /\d/.test((await ownTile.getByTestId('attr-value').first().textContent()) ?? ''),
			{ what: 'a value in the own tile' }
		);
		// The whole name is shown (two lines at most, never cut), scenario and person both,
		// on a desktop and on a phone.
		const whole = (t) =>
			t.locator('a.name').evaluate((el) => ({
				fits: el.scrollHeight <= el.clientHeight + 1 && el.scrollWidth <= el.clientWidth + 1,
				text: el.textContent?.trim()
			}));
		for (const t of [demoTile, ownTile]) {
			const n = await whole(t);
			assert.ok(n.fits, `the name "${n.text}" is cut at 1920 px`);
			assert.match(n.text ?? '', /Single person · Person 1/);
		}
		await shots(page, 'newcomer-lobby');
		await page.setViewportSize({ width: 390, height: 844 });
		await ownTile.scrollIntoViewIfNeeded();
		for (const t of [demoTile, ownTile]) {
			const n = await whole(t);
			assert.ok(n.fits, `the name "${n.text}" is cut at 390 px`);
		}
		await shots(page, 'newcomer-lobby-phone');
		await page.setViewportSize({ width: 1920, height: 1080 });

		// In a lens: the ECG lens panels carry the origin after the name.
		await page.goto(server.url + '/lobby/ecg');
		const panels = page.getByTestId('panel-name');
		await waitFor(async () => (await panels.count()) >= 2, { what: 'two ECG panels' });
		const texts = await panels.allTextContents();
		assert.ok(
			texts.some((t) => /demo/.test(t)) && texts.some((t) => /you/.test(t)),
			texts.join(' | ')
		);

		// The sensor page of the guest's copy names its owner and source.
		await page.goto(server.url + '/lobby');
		const id = await ownTile.getAttribute('data-sensor-id', { timeout: 20_000 });
		await page.goto(`${server.url}/sensors/${id}`);
		await page.getByTestId('sensor-origin').waitFor();
		assert.match(
			(await page.getByTestId('sensor-origin').textContent()) ?? '',
			/Single person.*owner you/s
		);
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('a sensor that stopped sending is not shown as streaming after a page load', async () => {
	const { context, page, errors } = await guest({ width: 1280, height: 860 });
	await failing(page, 'newcomer-dead', async () => {
		const rpc = rpcAs(context, server.url);
		await rpc('SensorService/RegisterSensor', {
			sensorId: 'e2e-dead-strap',
			name: 'Dead strap',
			sensorType: 'wearable',
			attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
		});
		const sentAt = Date.now();
		await rpc('SensorService/Publish', {
			sensorId: 'e2e-dead-strap',
			measurements: [{ attributeId: 'heartrate', timeUs: String(sentAt * 1000), number: 64 }]
		});
		// It sends nothing more. Once its last value is older than "streaming" allows (6 s),
		// a page load replays that value from the recent window: it must not look live.
		await waitFor(async () => Date.now() - sentAt > 8000, { timeoutMs: 15_000, what: '8 s' });
		await page.goto(server.url + '/lobby');
		const tile = page.locator('[data-testid="sensor-tile"][data-sensor-id="e2e-dead-strap"]');
		const value = tile.locator('[data-testid="attr-value"][data-attribute="heartrate"]');
		await waitFor(async () => /64/.test((await value.textContent()) ?? ''), {
			what: 'the replayed value'
		});
		const state = await tile.getByTestId('connection-state').textContent();
		assert.notEqual(state?.trim(), 'streaming');
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('phone: a slim header, lens tabs that scroll with a hint, no attention report after sign-out', async () => {
	const { context, page, errors } = await guest({ width: 390, height: 844 });
	await failing(page, 'newcomer-phone', async () => {
		/** @type {number[]} */
		const refused = [];
		let signedOut = false;
		page.on('response', (res) => {
			if (signedOut && res.url().includes('AttentionService/ReportAttention'))
				refused.push(res.status());
		});
		await page.goto(server.url + '/lobby');
		await page.getByTestId('sensor-tile').first().waitFor({ timeout: 20_000 });
		const header = await page.locator('header.header').boundingBox();
		assert.ok(header, 'a header');
		assert.ok(header.height / 844 < 0.1, `header is ${header.height}px of 844`);
		// The lens tabs: when they overflow, the right edge says there is more.
		const tabs = page.getByTestId('lens-tabs');
		const { overflow, hint } = await tabs.evaluate((el) => ({
			overflow: el.scrollWidth > el.clientWidth + 1,
			hint: el.hasAttribute('data-more-right')
		}));
		assert.equal(hint, overflow, 'the scroll hint shows exactly when the tabs overflow');
		await shots(page, 'newcomer-phone-lobby');
		await page.goto(server.url + '/simulator');
		await page.getByTestId('scenario').first().waitFor();
		await shots(page, 'newcomer-phone-simulator');

		// Sign out from the lobby (a guest confirms): no attention report afterwards.
		await page.goto(server.url + '/lobby');
		await page.getByTestId('sensor-tile').first().waitFor();
		await page.getByTestId('account-menu').click();
		await page.getByTestId('sign-out').click();
		signedOut = true;
		await page.getByTestId('sign-out-confirm').click();
		await page.waitForURL((u) => u.pathname === '/signin');
		await page.getByRole('button', { name: 'Continue as guest' }).waitFor();
		assert.deepEqual(
			refused.filter((s) => s === 401),
			[]
		);
		// No mail server and no dev mailbox here: no "Email link" sign-in that cannot work.
		await page.getByRole('tab', { name: 'Create account' }).waitFor();
		assert.equal(await page.getByRole('tab', { name: 'Email link' }).count(), 0);
		assert.deepEqual(errors, []);
	});
	await context.close();
});
