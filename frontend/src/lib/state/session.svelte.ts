// SessionStore knows who is signed in. The session itself is an httpOnly cookie the
// server sets on sign-in, so the app never holds a token: it asks GetMe who the cookie
// belongs to, and treats Unauthenticated as "signed out". The server sets a readable
// companion cookie (no secret in it) with the session cookie and clears it with it
// (server/internal/auth/middleware.go): without it nobody is signed in and the store asks
// nothing, so a signed-out visit makes no call that is refused. The root layout creates
// it, passes it by context, and redirects signed-out visitors to the sign-in page.
import type { Client } from '@connectrpc/connect';
import { Code } from '@connectrpc/connect';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { createContext, untrack } from 'svelte';
import type { AuthService, GetAuthConfigResponse, User } from '$lib/gen/sensocto/v1/auth_pb';
import { describeError, hasCode } from '$lib/api/errors';

/** loading: GetMe in flight; error: the server could not say (e.g. unreachable). */
export type SessionStatus = 'loading' | 'signed-in' | 'signed-out' | 'error';

/** The name of the session cookie's readable companion (auth.SignedInCookieName). */
export const SIGNED_IN_COOKIE = 'sensocto_signed_in';

/** Whether the browser holds the session cookie's companion (true outside a browser). */
export function hasSessionCookie(cookies = globalThis.document?.cookie): boolean {
	if (cookies === undefined) return true;
	return cookies.split(';').some((c) => c.trim() === `${SIGNED_IN_COOKIE}=1`);
}

export interface SessionOptions {
	/** Whether a session cookie may be there (default: hasSessionCookie). */
	maybeSignedIn?: () => boolean;
}

export class SessionStore {
	/** The signed-in user; undefined when signed out or not known yet. */
	user = $state.raw<User | undefined>(undefined);
	status = $state<SessionStatus>('loading');
	/** The sign-in methods the server offers; undefined until loaded. */
	config = $state.raw<GetAuthConfigResponse | undefined>(undefined);
	/** Why loading the session failed (status 'error'). */
	error = $state<string | undefined>(undefined);
	/** Set when a call was refused after sign-in: the session expired or was revoked. */
	expired = $state(false);

	signedIn = $derived(this.status === 'signed-in' && this.user !== undefined);
	/** When a guest account expires unless used; undefined for full accounts. */
	guestExpiresAt = $derived(
		this.user?.isGuest && this.user.guestExpiresAt
			? timestampDate(this.user.guestExpiresAt)
			: undefined
	);

	readonly #client: Client<typeof AuthService>;
	// Bookkeeping, never rendered: a plain Set on purpose.
	// eslint-disable-next-line svelte/prefer-svelte-reactivity
	readonly #beforeSignOut = new Set<() => void | Promise<void>>();
	/** Bumped by every sign-in and sign-out, so a slower load() does not undo them. */
	#generation = 0;

	readonly #maybeSignedIn: () => boolean;

	constructor(client: Client<typeof AuthService>, options: SessionOptions = {}) {
		this.#client = client;
		this.#maybeSignedIn = options.maybeSignedIn ?? (() => hasSessionCookie());
	}

	/**
	 * Asks the server who is signed in and which sign-in methods it offers. Untracked, so
	 * an $effect that calls it does not come to depend on the state it reads (and rerun).
	 */
	load(): Promise<void> {
		return untrack(() => this.#load());
	}

	async #load(): Promise<void> {
		this.status = 'loading';
		this.error = undefined;
		const config = this.loadConfig();
		const generation = this.#generation;
		if (!this.#maybeSignedIn()) {
			// No session cookie: nobody is signed in, and GetMe would only be refused.
			this.user = undefined;
			this.status = 'signed-out';
			await config;
			return;
		}
		try {
			const res = await this.#client.getMe({});
			if (generation === this.#generation) this.#setUser(res.user);
		} catch (err) {
			if (generation !== this.#generation) {
				// Signed in or out meanwhile: that answer is newer.
			} else if (hasCode(err, Code.Unauthenticated)) {
				this.user = undefined;
				this.status = 'signed-out';
			} else {
				this.error = describeError(err);
				this.status = 'error';
			}
		}
		await config;
	}

	/** Loads GetAuthConfig (once it succeeded, again only if asked). */
	async loadConfig(force = false): Promise<GetAuthConfigResponse | undefined> {
		if (this.config && !force) return this.config;
		try {
			this.config = await this.#client.getAuthConfig({});
		} catch {
			// The sign-in page shows guest and password forms by default; nothing to report.
		}
		return this.config;
	}

	/** Signs in as a new guest, with an optional display name. */
	async signInGuest(displayName = ''): Promise<User> {
		const res = await this.#client.signInGuest({ displayName: displayName.trim() });
		return this.#setUser(res.user);
	}

	/** Signs in with email and password. */
	async signIn(email: string, password: string): Promise<User> {
		const res = await this.#client.signIn({ email: email.trim(), password });
		return this.#setUser(res.user);
	}

	/**
	 * Creates an account with email and password. While signed in as a guest, the server
	 * upgrades that guest in place, keeping its sensors and rooms.
	 */
	async signUp(email: string, password: string, displayName = ''): Promise<User> {
		const res = await this.#client.signUp({
			email: email.trim(),
			password,
			displayName: displayName.trim()
		});
		return this.#setUser(res.user);
	}

	/** Asks for a sign-in link by email; returnTo is opened after following it. */
	async requestMagicLink(email: string, returnTo: string): Promise<void> {
		await this.#client.requestMagicLink({ email: email.trim(), returnTo });
	}

	/** Signs in with a magic link's secret; returns the path to open next ('' if none). */
	async verifyMagicLink(secret: string): Promise<string> {
		const res = await this.#client.verifyMagicLink({ secret });
		this.#setUser(res.user);
		return res.returnTo;
	}

	/** Returns the OpenID provider URL to send the browser to. */
	async beginOidcSignIn(returnTo: string): Promise<string> {
		const res = await this.#client.beginOidcSignIn({ returnTo });
		return res.authorizationUrl;
	}

	/** Changes the display name. */
	async updateDisplayName(displayName: string): Promise<User> {
		const res = await this.#client.updateMe({ displayName: displayName.trim() });
		return this.#setUser(res.user);
	}

	/**
	 * Signs out: the server revokes the session and clears the cookie. Locally the user is
	 * signed out even if the call fails (the cookie may already be invalid).
	 */
	async signOut(): Promise<void> {
		// Live pages stop their streams and reports first: after the server revokes the
		// session each of them would be refused (401).
		await Promise.allSettled([...this.#beforeSignOut].map((fn) => fn()));
		try {
			await this.#client.signOut({});
		} finally {
			this.#generation++;
			this.user = undefined;
			this.expired = false;
			this.status = 'signed-out';
		}
	}

	/** Runs fn (awaited) before signing out; returns the function that unregisters it. */
	onBeforeSignOut(fn: () => void | Promise<void>): () => void {
		this.#beforeSignOut.add(fn);
		return () => this.#beforeSignOut.delete(fn);
	}

	/**
	 * Called when any call answers Unauthenticated after sign-in (an expired guest, a
	 * revoked session): forget the user so the layout sends the visitor to sign in.
	 */
	expire(): void {
		if (this.status !== 'signed-in') return;
		this.#generation++;
		this.user = undefined;
		this.expired = true;
		this.status = 'signed-out';
	}

	#setUser(user: User | undefined): User {
		if (!user) throw new Error('the server answered without a user');
		this.#generation++;
		this.user = user;
		this.expired = false;
		this.error = undefined;
		this.status = 'signed-in';
		return user;
	}
}

const [getSession, setSession] = createContext<SessionStore>();

/** The SessionStore created by the root layout. */
export { getSession, setSession };
