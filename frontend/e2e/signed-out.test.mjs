// End-to-end: a visitor who is not signed in, and one who just signed out, load every
// page without a single refused call or console error: the app asks the server who is
// signed in only when the browser holds the session's companion cookie, and every live
// page stops its streams and attention reports before the session ends.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, startServer, waitFor } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	server = await startServer({
		env: { SENSOCTO_DEMO_SCENARIO: 'single_person', SENSOCTO_AUTH_RATE_LIMIT: '1000' }
	});
	browser = await launchBrowser();
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

// Every kind of route: the root, the lobby and a lens, the pages of the nav, a sensor's
// page (a dotted id), a room, a join link, sign-in.
const routes = [
	'/',
	'/lobby',
	'/lobby/ecg',
	'/rooms',
	'/rooms/00000000-0000-4000-8000-000000000000',
	'/join/ABCDEFGH',
	'/simulator',
	'/sense',
	'/system',
	'/settings',
	'/sensors/sim.single_person.person_1',
	'/signin'
];

/**
 * A page that records what a visitor would see as noise: console errors, uncaught
 * errors, HTTP answers of 400 and above, failed requests, and every RPC called.
 * @param {import('playwright-core').BrowserContext} context
 */
async function watched(context) {
	const page = await context.newPage();
	const noise = /** @type {string[]} */ ([]);
	const calls = /** @type {string[]} */ ([]);
	page.on('console', (m) => {
		if (m.type() === 'error') noise.push(`console: ${m.text()}`);
	});
	page.on('pageerror', (e) => noise.push(`pageerror: ${e.message}`));
	page.on('response', (r) => {
		if (r.status() >= 400) noise.push(`${r.status()} ${new URL(r.url()).pathname}`);
	});
	page.on('requestfailed', (r) => {
		// A stream the app aborts on purpose (leaving a page) is not a failure.
		if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? ''))
			noise.push(`failed ${new URL(r.url()).pathname}: ${r.failure()?.errorText}`);
	});
	page.on('request', (r) => {
		const p = new URL(r.url()).pathname;
		if (p.startsWith('/sensocto.v1.')) calls.push(p.replace('/sensocto.v1.', ''));
	});
	return { page, noise, calls };
}

test('a signed-out load of every page: no refused call, no console error, no GetMe', async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	const { page, noise, calls } = await watched(context);
	try {
		for (const route of routes) {
			await page.goto(server.url + route);
			// Private pages send the visitor to sign in; the sign-in page shows its forms.
			await page.waitForURL((u) => u.pathname === '/signin', { timeout: 10_000 });
			await page.getByRole('button', { name: 'Continue as guest' }).waitFor();
			assert.deepEqual(noise, [], `loading ${route}`);
		}
		assert.ok(calls.includes('AuthService/GetAuthConfig'), calls.join(', '));
		assert.deepEqual(
			calls.filter((c) => c === 'AuthService/GetMe'),
			[]
		);
		// The session's companion is there exactly while signed in.
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL((u) => u.pathname === '/lobby');
		const names = async () => (await context.cookies()).map((c) => c.name).sort();
		assert.deepEqual(await names(), ['sensocto_session', 'sensocto_signed_in']);
		const hint = (await context.cookies()).find((c) => c.name === 'sensocto_signed_in');
		assert.equal(hint?.httpOnly, false);
		assert.equal(hint?.value, '1');
		assert.deepEqual(noise, []);
	} finally {
		await context.close();
	}
});

test('signing out of a live page: no call refused afterwards, and signed-out loads stay quiet', async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	const { page, noise, calls } = await watched(context);
	try {
		await page.goto(server.url + '/signin');
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL((u) => u.pathname === '/lobby');
		// A lens with live panels: Watch, WatchAttention and attention reports run.
		await page.goto(server.url + '/lobby/ecg');
		await page.getByTestId('panel-name').first().waitFor({ timeout: 20_000 });
		await waitFor(async () => calls.includes('AttentionService/ReportAttention'), {
			what: 'an attention report'
		});
		await page.getByTestId('account-menu').click();
		await page.getByTestId('sign-out').click();
		await page.getByTestId('sign-out-confirm').click();
		await page.waitForURL((u) => u.pathname === '/signin');
		const after = calls.length;
		// Longer than a report's flush and the streams' retry: nothing of the old session.
		await page.waitForTimeout(3000);
		assert.deepEqual(noise, []);
		assert.deepEqual(
			calls.slice(after).filter((c) => !c.startsWith('AuthService/GetAuthConfig')),
			[]
		);
		assert.deepEqual(
			(await context.cookies()).map((c) => c.name),
			[]
		);
		// Signed out, every page again: quiet.
		for (const route of ['/lobby', '/sensors/sim.single_person.person_1', '/system']) {
			await page.goto(server.url + route);
			await page.waitForURL((u) => u.pathname === '/signin');
			await page.getByRole('button', { name: 'Continue as guest' }).waitFor();
		}
		assert.deepEqual(noise, []);
	} finally {
		await context.close();
	}
});
