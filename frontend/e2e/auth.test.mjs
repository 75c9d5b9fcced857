// End-to-end: signing in and out, API tokens and the dev mailbox, against a real server
// (SENSOCTO_DEV=true) in real Chromium.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifactsDir, launchBrowser, startServer } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	server = await startServer({ env: { SENSOCTO_DEV: 'true' } });
	browser = await launchBrowser();
	await mkdir(artifactsDir, { recursive: true });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * A fresh browser context (no cookies) and page that records uncaught app errors.
 * @param {import('playwright-core').BrowserContextOptions} [options]
 */
async function fresh(options = {}) {
	const context = await browser.newContext({
		viewport: { width: 1280, height: 860 },
		colorScheme: 'light',
		...options
	});
	const page = await context.newPage();
	/** @type {Error[]} */
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	return { context, page, errors };
}

/** Calls an AuthService method with a bearer token (as a connector would), JSON encoded. */
async function callWithToken(method, secret) {
	return fetch(`${server.url}/sensocto.v1.AuthService/${method}`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${secret}` },
		body: '{}'
	});
}

/** Runs fn; on failure saves a screenshot and prints the server's log tail. */
async function withFailureShot(page, name, fn) {
	try {
		await fn();
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, `${name}-failure.png`), fullPage: true });
		console.error(server.logs().slice(-4000));
		throw err;
	}
}

test('guest signs in, creates and revokes an API token, signs out', async () => {
	const { context, page, errors } = await fresh();
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
	await withFailureShot(page, 'auth', async () => {
		// Unauthenticated: /settings lands on sign-in, remembering where to come back.
		await page.goto(server.url + '/settings');
		await page.waitForURL('**/signin?return_to=%2Fsettings');
		await page.getByRole('heading', { level: 1, name: 'Sign in to Sensocto' }).waitFor();
		await page.getByRole('tab', { name: 'Email link' }).waitFor(); // config loaded
		await page.screenshot({ path: join(artifactsDir, 'signin.png'), fullPage: true });
		await page.emulateMedia({ colorScheme: 'dark' });
		await page.screenshot({ path: join(artifactsDir, 'signin-dark.png'), fullPage: true });
		await page.emulateMedia({ colorScheme: 'light' });

		// One click: a guest, and back to the page asked for.
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL('**/settings');
		await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
		const menu = page.getByTestId('account-menu');
		assert.match((await menu.textContent()) ?? '', /Guest/);

		// Create a token: the secret is shown once.
		await page.getByLabel('Name', { exact: true }).fill('e2e bridge');
		await page.getByLabel('Full').check();
		await page.getByLabel('Expires').selectOption('30d');
		await page.getByRole('button', { name: 'Create token' }).click();
		const secretBox = page.getByTestId('token-secret');
		await secretBox.waitFor();
		const secret = await secretBox.inputValue();
		assert.ok(secret.length >= 20, `secret looks like a secret: ${secret}`);
		assert.match(
			(await page.getByTestId('token-secret-panel').textContent()) ?? '',
			/won’t see it again/
		);
		await page.getByRole('button', { name: 'Copy', exact: true }).click();
		await page.getByText('Copied to the clipboard.').waitFor();
		assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

		// It is in the list, with a prefix of the secret.
		const row = page.getByTestId('token-row').filter({ hasText: 'e2e bridge' });
		await row.waitFor();
		const rowText = (await row.textContent()) ?? '';
		assert.match(rowText, /full/);
		const prefix = ((await row.locator('code').textContent()) ?? '').replace('…', '').trim();
		assert.ok(prefix.length > 0 && secret.startsWith(prefix), `prefix ${prefix} of ${secret}`);

		// The token works as a bearer credential.
		assert.equal((await callWithToken('GetMe', secret)).status, 200);

		// Full-page shots from the top, so the sticky header sits where it belongs.
		await page.evaluate(() => window.scrollTo(0, 0));
		await page.screenshot({ path: join(artifactsDir, 'settings.png'), fullPage: true });
		await page.emulateMedia({ colorScheme: 'dark' });
		await page.screenshot({ path: join(artifactsDir, 'settings-dark.png'), fullPage: true });
		await page.emulateMedia({ colorScheme: 'light' });
		await page.setViewportSize({ width: 375, height: 740 });
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		assert.ok(overflow <= 0, `settings overflow by ${overflow}px on a phone`);
		await page.screenshot({ path: join(artifactsDir, 'settings-phone.png'), fullPage: true });
		await page.setViewportSize({ width: 1280, height: 860 });

		// Dismissed, the secret is gone for good, also after a reload.
		await page.getByRole('button', { name: 'I have copied it' }).click();
		await secretBox.waitFor({ state: 'detached' });
		await page.reload();
		await row.waitFor();
		assert.ok(!((await page.content()) ?? '').includes(secret), 'secret not on the page');

		// Revoke, with confirmation: it disappears and stops working at once.
		await page.getByRole('button', { name: 'Revoke e2e bridge' }).click();
		await page
			.getByRole('group', { name: 'Revoke e2e bridge?' })
			.getByRole('button', { name: 'Revoke' })
			.click();
		await row.waitFor({ state: 'detached' });
		await page.getByTestId('no-tokens').waitFor();
		assert.equal((await callWithToken('GetMe', secret)).status, 401);

		// Sign out: a guest is warned first (the account cannot be signed into again) and
		// offered to keep it; then back at sign-in, and private pages send us there again.
		await menu.click();
		await page.getByTestId('sign-out').click();
		const warning = page.getByTestId('guest-sign-out');
		await warning.waitFor();
		assert.match((await warning.textContent()) ?? '', /cannot be signed into again/);
		assert.equal(await page.getByTestId('guest-keep').getAttribute('href'), '/settings#upgrade-h');
		await page.screenshot({ path: join(artifactsDir, 'guest-sign-out.png') });
		assert.equal(page.url().endsWith('/settings'), true); // nothing happened yet
		await page.getByTestId('sign-out-confirm').click();
		await page.waitForURL((u) => u.pathname === '/signin');
		await page.getByRole('button', { name: 'Continue as guest' }).waitFor();
		await page.goto(server.url + '/system');
		await page.waitForURL('**/signin?return_to=%2Fsystem');

		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('guest renames, upgrades to a full account and keeps its tokens', async () => {
	const { context, page, errors } = await fresh();
	await withFailureShot(page, 'auth-upgrade', async () => {
		await page.goto(server.url + '/signin?return_to=%2Fsettings');
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL((u) => u.pathname === '/settings');

		// Rename.
		await page.getByLabel('Display name').fill('Lin');
		await page.getByRole('button', { name: 'Save' }).click();
		await page.getByText('Saved.').waitFor();
		const menu = page.getByTestId('account-menu');
		assert.match((await menu.textContent()) ?? '', /Lin/);

		// A token made as a guest…
		await page.getByLabel('Name', { exact: true }).fill('kept');
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.getByTestId('token-row').filter({ hasText: 'kept' }).waitFor();

		// …survives the upgrade.
		await page.getByLabel('Email', { exact: true }).fill('lin@example.com');
		await page.getByLabel('Password', { exact: true }).fill('a long enough password');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.getByText('Done: you now sign in as').waitFor();
		assert.doesNotMatch((await menu.textContent()) ?? '', /Guest/);
		await page.reload();
		await page.getByTestId('token-row').filter({ hasText: 'kept' }).waitFor();
		assert.match((await menu.textContent()) ?? '', /Lin/);

		// Keyboard: the account menu opens with Enter and closes with Escape, focus returns.
		await menu.focus();
		await page.keyboard.press('Enter');
		assert.equal(await menu.getAttribute('aria-expanded'), 'true');
		await page.keyboard.press('Tab');
		assert.equal(
			await page.evaluate(() => document.activeElement?.textContent?.trim()),
			'Settings'
		);
		await page.keyboard.press('Escape');
		assert.equal(await menu.getAttribute('aria-expanded'), 'false');
		assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'account-menu');
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('a visitor opening the app signs in and lands on the live lobby', async () => {
	const { context, page, errors } = await fresh();
	await withFailureShot(page, 'auth-landing', async () => {
		// "/" while signed out: sign-in, with no return path to carry.
		await page.goto(server.url + '/');
		await page.waitForURL((u) => u.pathname === '/signin' && !u.searchParams.has('return_to'));
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL((u) => u.pathname === '/lobby');
		await page.getByRole('heading', { level: 1, name: 'Lobby' }).waitFor();
		// And "/" while signed in goes to the lobby too.
		await page.goto(server.url + '/');
		await page.waitForURL((u) => u.pathname === '/lobby');
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('password sign-up shows field errors, then signs up and in', async () => {
	const { context, page, errors } = await fresh();
	await withFailureShot(page, 'auth-password', async () => {
		await page.goto(server.url + '/signin');
		await page.getByRole('tab', { name: 'Create account' }).click();
		await page.getByLabel('Email', { exact: true }).fill('ada@example.com');
		await page.getByLabel('Password', { exact: true }).fill('short');
		await page.getByRole('button', { name: 'Create account' }).click();
		// The server's field violation shows next to the field.
		const pw = page.getByLabel('Password', { exact: true });
		await page.waitForFunction(
			() => document.getElementById('password')?.getAttribute('aria-invalid') === 'true'
		);
		assert.match((await page.locator('#password-err').textContent()) ?? '', /10/);
		await pw.fill('a long enough password');
		await page.getByRole('button', { name: 'Create account' }).click();
		// A new user lands on the live lobby, not on the System page.
		await page.waitForURL((u) => u.pathname === '/lobby');
		assert.match((await page.getByTestId('account-menu').textContent()) ?? '', /ada/);

		await page.getByTestId('account-menu').click();
		await page.getByTestId('sign-out').click();
		await page.waitForURL((u) => u.pathname === '/signin');

		// Wrong password: one message, still signed out.
		await page.getByLabel('Email', { exact: true }).fill('ada@example.com');
		await page.getByLabel('Password', { exact: true }).fill('not the password');
		await page.getByRole('button', { name: 'Sign in', exact: true }).click();
		await page.getByTestId('signin-error').waitFor();
		await page.getByLabel('Password', { exact: true }).fill('a long enough password');
		await page.getByRole('button', { name: 'Sign in', exact: true }).click();
		await page.waitForURL((u) => u.pathname === '/lobby');
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('magic link through the dev mailbox', async () => {
	const { context, page, errors } = await fresh({ colorScheme: 'dark' });
	await withFailureShot(page, 'auth-magic', async () => {
		await page.goto(server.url + '/signin?return_to=%2Fsettings');
		await page.getByRole('tab', { name: 'Email link' }).click();
		await page.getByLabel('Email', { exact: true }).fill('grace@example.com');
		await page.getByRole('button', { name: 'Email me a link' }).click();
		await page.getByTestId('magic-sent').waitFor();
		await page.getByTestId('magic-sent').getByRole('link', { name: 'dev mailbox' }).click();
		await page.waitForURL('**/dev/mailbox');
		const mail = page.getByTestId('mail').filter({ hasText: 'grace@example.com' }).first();
		await mail.waitFor();
		await page.screenshot({ path: join(artifactsDir, 'mailbox-dark.png'), fullPage: true });
		await mail.getByTestId('mail-link').click();
		await page.waitForURL((u) => u.pathname === '/settings');
		assert.equal(new URL(page.url()).search, '', 'the secret is not left in the address bar');
		await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
		assert.match((await page.getByTestId('account-menu').textContent()) ?? '', /grace/i);
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('a session revoked elsewhere sends the user to sign in on the next call', async () => {
	const { context, page, errors } = await fresh();
	await withFailureShot(page, 'auth-revoked', async () => {
		// Settings makes no calls while idle (unlike the System page's stream), so the
		// refused call below is the first one after the revocation.
		await page.goto(server.url + '/signin?return_to=%2Fsettings');
		await page.getByRole('button', { name: 'Continue as guest' }).click();
		await page.waitForURL((u) => u.pathname === '/settings');
		await page.getByTestId('no-tokens').waitFor();

		// Revoke the session from outside the page (SignOut with the same cookie).
		const cookies = await context.cookies(server.url);
		assert.ok(cookies.length > 0, 'the server set a session cookie');
		// Every cookie but the script-readable "signed in" hint (no secret in it) is httpOnly.
		assert.ok(
			cookies.every((c) => c.httpOnly || (c.name === 'sensocto_signed_in' && c.value === '1')),
			'session cookies are httpOnly'
		);
		const res = await fetch(`${server.url}/sensocto.v1.AuthService/SignOut`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				Cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; ')
			},
			body: '{}'
		});
		assert.equal(res.status, 200);

		// The next call (creating a token) is refused: back to sign-in, to return here.
		await page.getByLabel('Name', { exact: true }).fill('too late');
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.waitForURL('**/signin?return_to=%2Fsettings');
		await page.getByText('Your session ended').waitFor();
		assert.deepEqual(errors, []);
	});
	await context.close();
});

test('rate-limited sign-in says when to try again', async () => {
	// A server of its own that allows one attempt per minute and method.
	const limited = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1' } });
	const { context, page, errors } = await fresh();
	try {
		await withFailureShot(page, 'auth-ratelimit', async () => {
			const first = await context.request.post(
				`${limited.url}/sensocto.v1.AuthService/SignInGuest`,
				{ headers: { 'Content-Type': 'application/json' }, data: {} }
			);
			assert.equal(first.status(), 200);
			await context.clearCookies();
			await page.goto(limited.url + '/signin');
			const guest = page.getByRole('button', { name: 'Continue as guest' });
			await guest.click();
			const alert = page.getByTestId('signin-error');
			await alert.waitFor();
			assert.match((await alert.textContent()) ?? '', /Too many attempts\. Try again in \d+ s\./);
			assert.ok(await guest.isDisabled(), 'the button waits for the limit to pass');
			// Limits are per method: password sign-in is still open.
			assert.ok(await page.getByRole('button', { name: 'Sign in', exact: true }).isEnabled());
			await page.screenshot({ path: join(artifactsDir, 'signin-ratelimited.png') });
			assert.equal(new URL(page.url()).pathname, '/signin');
			assert.deepEqual(errors, []);
		});
	} finally {
		await context.close();
		await limited.stop();
	}
});

test('"Sign in with …" goes through the server, and a failed provider comes back with a reason', async () => {
	// The issuer does not answer: the server's login route fails and returns to /signin.
	const oidc = await startServer({
		env: {
			SENSOCTO_OIDC_ISSUER: 'http://127.0.0.1:9/',
			SENSOCTO_OIDC_CLIENT_ID: 'sensocto-e2e',
			SENSOCTO_OIDC_PROVIDER_NAME: 'Example ID'
		}
	});
	const { context, page, errors } = await fresh();
	try {
		await withFailureShot(page, 'auth-oidc', async () => {
			await page.goto(oidc.url + '/signin?return_to=%2Frooms');
			const button = page.getByRole('button', { name: 'Sign in with Example ID' });
			await button.click();
			await page.waitForURL((u) => u.pathname === '/signin' && u.searchParams.has('error'));
			// The provider's name comes with the auth config, which may answer after the
			// error is first shown: wait for the full sentence rather than reading it once.
			await page
				.getByTestId('provider-error')
				.filter({ hasText: /Sign-in with Example ID did not work/ })
				.waitFor();
			await page.screenshot({ path: join(artifactsDir, 'signin-oidc-error.png') });
			assert.deepEqual(errors, []);
		});
	} finally {
		await context.close();
		await oidc.stop();
	}
});

test('sign-in page on a phone', async () => {
	const { context, page } = await fresh({ viewport: { width: 375, height: 740 } });
	await page.goto(server.url + '/signin');
	await page.getByRole('button', { name: 'Continue as guest' }).waitFor();
	const overflow = await page.evaluate(
		() => document.documentElement.scrollWidth - document.documentElement.clientWidth
	);
	assert.ok(overflow <= 0, `page overflows by ${overflow}px`);
	await page.screenshot({ path: join(artifactsDir, 'signin-phone.png'), fullPage: true });
	await context.close();
});
