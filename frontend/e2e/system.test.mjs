// End-to-end: the shell and the System page against a real server in real Chromium.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifactsDir, launchBrowser, signInAsGuest, startServer } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	// Every test signs in a new guest from 127.0.0.1: lift the per-IP sign-in limit.
	server = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1000' } });
	browser = await launchBrowser();
	await mkdir(artifactsDir, { recursive: true });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * Opens a page, signed in as a fresh guest (every page but sign-in needs a session), and
 * collects uncaught errors in the app.
 */
async function open(path, options = {}) {
	const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
	await signInAsGuest(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	await page.goto(server.url + path);
	return { page, context, errors };
}

test('System page shows live status', async () => {
	const { page, context, errors } = await open('/system', { colorScheme: 'dark' });
	try {
		const version = page.getByTestId('version');
		await version.waitFor({ timeout: 15_000 });
		assert.notEqual((await version.textContent())?.trim(), '');
		assert.match((await page.getByTestId('uptime').textContent()) ?? '', /\d+[smhd]/);
		assert.match((await page.getByTestId('goroutines').textContent()) ?? '', /\d/);
		assert.match((await page.getByTestId('heap').textContent()) ?? '', /\d.*B/);
		// Without SENSOCTO_NATS_URL the server is one node and says so.
		await page.getByTestId('nodes-single').waitFor({ timeout: 5_000 });

		// A live value must change on its own: the stream pushes a new sample every second.
		const first = await page.getByTestId('sampled-at').textContent();
		await page.waitForFunction(
			(prev) => document.querySelector('[data-testid="sampled-at"]')?.textContent !== prev,
			first,
			{ timeout: 10_000 }
		);
		assert.match((await page.getByTestId('live-indicator').textContent()) ?? '', /Live/);

		await page.screenshot({ path: join(artifactsDir, 'system.png'), fullPage: true });
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'system-failure.png'), fullPage: true });
		console.error(server.logs().slice(-4000));
		throw err;
	} finally {
		await context.close();
	}
});

test('root lands on the live lobby and the nav reaches every page', async () => {
	const { page, context, errors } = await open('/');
	try {
		await page.waitForURL('**/lobby');
		await page.getByRole('heading', { level: 1, name: 'Lobby' }).waitFor();
		const nav = page.getByRole('navigation', { name: 'Main' });
		for (const name of ['Lobby', 'Rooms', 'Simulator']) {
			await nav.getByRole('link', { name }).click();
			await page.getByRole('heading', { level: 1, name }).waitFor();
			assert.equal(
				await nav.getByRole('link', { name }).getAttribute('aria-current'),
				'page',
				`${name} is marked current`
			);
			if (name === 'Rooms') {
				// Rooms: a new user is in none yet, and is told how to get into one.
				await page.getByTestId('mine-rooms-empty').waitFor();
			}
		}
		await nav.getByRole('link', { name: 'Settings' }).click();
		await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
		// Deep links work (the server falls back to index.html).
		await page.goto(server.url + '/rooms');
		await page.getByRole('heading', { level: 1, name: 'Rooms' }).waitFor();
		assert.deepEqual(errors, []);
	} finally {
		await context.close();
	}
});

test('theme toggle switches and persists', async () => {
	const { page, context } = await open('/system', { colorScheme: 'light' });
	try {
		const html = page.locator('html');
		await page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
		await page.getByTestId('theme-toggle').click();
		assert.equal(await html.getAttribute('data-theme'), 'dark');
		await page.reload();
		await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
		await page.screenshot({ path: join(artifactsDir, 'system-toggled-dark.png') });
	} finally {
		await context.close();
	}
});

test('System page without a session sends the visitor to sign in', async () => {
	const context = await browser.newContext();
	try {
		const page = await context.newPage();
		await page.goto(server.url + '/system');
		await page.waitForURL('**/signin?return_to=%2Fsystem');
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL('**/system');
		await page.getByTestId('version').waitFor({ timeout: 15_000 });
	} finally {
		await context.close();
	}
});

test('keyboard: skip link and nav are reachable with Tab', async () => {
	const { page, context } = await open('/system');
	try {
		await page.getByRole('navigation', { name: 'Main' }).waitFor();
		await page.keyboard.press('Tab');
		assert.equal(
			await page.evaluate(() => document.activeElement?.textContent),
			'Skip to main content'
		);
		await page.keyboard.press('Tab'); // brand
		await page.keyboard.press('Tab'); // first nav link
		assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Lobby');
		const outline = await page.evaluate(
			() => getComputedStyle(/** @type {Element} */ (document.activeElement)).outlineStyle
		);
		assert.notEqual(outline, 'none', 'focused link shows an outline');
	} finally {
		await context.close();
	}
});

test('phone layout has no horizontal overflow', async () => {
	const { page, context } = await open('/system', { viewport: { width: 375, height: 740 } });
	try {
		await page.getByTestId('version').waitFor({ timeout: 15_000 });
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		assert.ok(overflow <= 0, `page overflows by ${overflow}px`);
		await page.screenshot({ path: join(artifactsDir, 'system-phone.png'), fullPage: true });
	} finally {
		await context.close();
	}
});
