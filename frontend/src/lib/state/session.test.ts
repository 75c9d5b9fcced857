import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it, vi } from 'vitest';
import { formError } from '$lib/api/errors';
import { unauthenticatedInterceptor } from '$lib/api/transport';
import { signInHref } from '$lib/auth/redirect';
import { AuthService } from '$lib/gen/sensocto/v1/auth_pb';
import { SystemService } from '$lib/gen/sensocto/v1/system_pb';
import { FakeAuth } from '../../test/fake-auth';
import { SessionStore, hasSessionCookie } from './session.svelte';

/** Wires a SessionStore to a fake server the way the root layout does. */
function setup() {
	const fake = new FakeAuth();
	let session: SessionStore | undefined = undefined;
	const transport = createRouterTransport(
		(router) => {
			fake.routes(router);
			router.service(SystemService, {
				getStatus: () => {
					if (!fake.current) throw new ConnectError('not signed in', Code.Unauthenticated);
					return { status: { version: 'v1' } };
				},
				async *watchStatus() {
					yield { status: { version: 'v1' } };
					throw new ConnectError('session revoked', Code.Unauthenticated);
				}
			});
		},
		{ transport: { interceptors: [unauthenticatedInterceptor(() => session?.expire())] } }
	);
	session = new SessionStore(createClient(AuthService, transport));
	return { fake, session, system: createClient(SystemService, transport) };
}

describe('SessionStore', () => {
	it('starts signed out when GetMe is refused, and loads the sign-in methods', async () => {
		const { session } = setup();
		expect(session.status).toBe('loading');
		await session.load();
		expect(session.status).toBe('signed-out');
		expect(session.signedIn).toBe(false);
		expect(session.user).toBeUndefined();
		expect(session.config?.magicLinkEnabled).toBe(true);
		expect(session.config?.devMailboxEnabled).toBe(true);
	});

	it('signs in as a guest in one call and exposes the guest expiry', async () => {
		const { session, fake } = setup();
		await session.load();
		const user = await session.signInGuest('  Ada ');
		expect(user.displayName).toBe('Ada');
		expect(session.status).toBe('signed-in');
		expect(session.signedIn).toBe(true);
		expect(session.user?.isGuest).toBe(true);
		expect(session.guestExpiresAt).toBeInstanceOf(Date);
		expect(session.guestExpiresAt!.getTime()).toBeGreaterThan(Date.now());

		// A reload finds the same user through the cookie.
		const again = new SessionStore(createClient(AuthService, createRouterTransport(fake.routes)));
		await again.load();
		expect(again.user?.displayName).toBe('Ada');
	});

	it('keeps a wrong password signed out, without triggering the redirect', async () => {
		const { session, fake } = setup();
		fake.users.set('a@example.com', {
			user: { userId: 'u9', email: 'a@example.com' } as never,
			password: 'correct horse battery'
		});
		await session.load();
		const err = await session.signIn('a@example.com', 'nope').catch((e) => e);
		expect(err).toBeInstanceOf(ConnectError);
		expect(formError(err).message).toBe('wrong email or password');
		expect(session.status).toBe('signed-out');
		expect(session.expired).toBe(false);

		await session.signIn(' a@example.com ', 'correct horse battery');
		expect(session.user?.email).toBe('a@example.com');
	});

	it('signs up and shows field violations from the server', async () => {
		const { session } = setup();
		await session.load();
		const err = await session.signUp('b@example.com', 'short').catch((e) => e);
		const fe = formError(err, ['email', 'password']);
		expect(fe.fields).toEqual({ password: 'value length must be at least 10 characters' });
		expect(fe.message).toBe('Please correct the marked fields.');

		await session.signUp('b@example.com', 'long enough password', 'Bea');
		expect(session.user?.displayName).toBe('Bea');
	});

	it('upgrades a guest in place with SignUp', async () => {
		const { session } = setup();
		await session.load();
		const guest = await session.signInGuest();
		const full = await session.signUp('g@example.com', 'long enough password');
		expect(full.userId).toBe(guest.userId);
		expect(full.isGuest).toBe(false);
		expect(session.guestExpiresAt).toBeUndefined();
	});

	it('reports rate limits with the retry delay', async () => {
		const { session, fake } = setup();
		fake.rateLimitSeconds = 42;
		await session.load();
		const err = await session.signInGuest().catch((e) => e);
		expect(formError(err).message).toBe('Too many attempts. Try again in 42 s.');
		expect(formError(err).retryAfter).toBe(42);
		expect(session.signedIn).toBe(false);
	});

	it('signs out when a later call answers Unauthenticated, and knows where to return', async () => {
		const { session, fake, system } = setup();
		await session.load();
		await session.signInGuest();
		await system.getStatus({});
		expect(session.status).toBe('signed-in');

		// The guest expired on the server (the sweeper removed it).
		fake.current = undefined;
		await expect(system.getStatus({})).rejects.toThrow(/not signed in/);
		expect(session.status).toBe('signed-out');
		expect(session.expired).toBe(true);
		expect(session.user).toBeUndefined();
		// The layout's guard then sends the visitor here:
		expect(signInHref({ pathname: '/settings', search: '?tab=tokens' })).toBe(
			'/signin?return_to=%2Fsettings%3Ftab%3Dtokens'
		);
	});

	it('notices Unauthenticated at the end of a stream', async () => {
		const { session, system } = setup();
		await session.load();
		await session.signInGuest();
		const seen: string[] = [];
		await expect(
			(async () => {
				for await (const m of system.watchStatus({})) seen.push(m.status?.version ?? '');
			})()
		).rejects.toThrow(/session revoked/);
		expect(seen).toEqual(['v1']);
		expect(session.status).toBe('signed-out');
		expect(session.expired).toBe(true);
	});

	it('signs out', async () => {
		const { session, fake } = setup();
		await session.load();
		await session.signInGuest();
		// Live pages end their streams first, while the session still holds.
		const order: string[] = [];
		const off = session.onBeforeSignOut(async () => {
			order.push(`before, signed in: ${fake.current !== undefined}`);
		});
		await session.signOut();
		off();
		expect(order).toEqual(['before, signed in: true']);
		expect(fake.calls).toContain('signOut');
		expect(session.status).toBe('signed-out');
		expect(session.expired).toBe(false);
		expect(fake.current).toBeUndefined();
	});

	it('verifies a magic link even while the first GetMe is still in flight', async () => {
		const { session, fake } = setup();
		fake.getMeDelayMs = 50;
		const loading = session.load();
		const returnTo = await session.verifyMagicLink('good-secret-0123456789');
		expect(returnTo).toBe('/settings');
		expect(session.status).toBe('signed-in');
		await loading;
		// The slower GetMe (sent before the link was verified) does not sign the user out.
		expect(session.status).toBe('signed-in');
		expect(session.user?.email).toBe('m@example.com');

		const bad = await session.verifyMagicLink('used-secret-0123456789').catch((e) => e);
		expect(formError(bad).message).toBe('link expired or already used');
	});

	it('asks where to send the browser for OpenID sign-in', async () => {
		const { session } = setup();
		await session.load();
		expect(await session.beginOidcSignIn('/rooms')).toBe(
			'http://app.test/auth/oidc/login?return_to=%2Frooms'
		);
		expect(session.status).toBe('signed-out');
	});

	it('reports an unreachable server as an error, not as signed out', async () => {
		const transport = createRouterTransport(({ service }) => {
			service(AuthService, {
				getMe: () => {
					throw new ConnectError('down', Code.Unavailable);
				},
				getAuthConfig: () => ({})
			});
		});
		const session = new SessionStore(createClient(AuthService, transport));
		await session.load();
		expect(session.status).toBe('error');
		expect(session.error).toBe('server unreachable');
		await vi.waitFor(() => expect(session.config).toBeDefined());
	});
	it('asks nobody who is signed in when the browser holds no session cookie', async () => {
		const fake = new FakeAuth();
		let cookie = false;
		const session = new SessionStore(
			createClient(AuthService, createRouterTransport(fake.routes)),
			{
				maybeSignedIn: () => cookie
			}
		);
		await session.load();
		expect(session.status).toBe('signed-out');
		expect(fake.calls).not.toContain('getMe');
		expect(session.config).toBeDefined();
		// Signed in (the server set the cookies): the next load asks.
		await session.signInGuest('Ada');
		cookie = true;
		await session.load();
		expect(fake.calls).toContain('getMe');
		expect(session.user?.displayName).toBe('Ada');
	});

	it('reads the companion cookie among others', () => {
		expect(hasSessionCookie('')).toBe(false);
		expect(hasSessionCookie('theme=dark; sensocto_signed_in=1; x=y')).toBe(true);
		expect(hasSessionCookie('sensocto_signed_in=1')).toBe(true);
		expect(hasSessionCookie('sensocto_signed_in=')).toBe(false);
		expect(hasSessionCookie('not_sensocto_signed_in=1')).toBe(false);
		expect(hasSessionCookie(undefined)).toBe(true);
	});
});
