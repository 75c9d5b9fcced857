// A fake AuthService for unit tests: an in-memory user table and a "cookie" (the signed-in
// user id), served through createRouterTransport like the real server.
import { create } from '@bufbuild/protobuf';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { timestampFromDate, timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import {
	ApiTokenSchema,
	AuthService,
	UserSchema,
	type ApiToken,
	type User
} from '$lib/gen/sensocto/v1/auth_pb';

/** Encodes a google.rpc.BadRequest detail as the server sends it. */
export function badRequest(violations: [field: string, description: string][]) {
	const w = new BinaryWriter();
	for (const [field, description] of violations) {
		w.tag(1, 2).fork().tag(1, 2).string(field).tag(2, 2).string(description).join();
	}
	return { type: 'google.rpc.BadRequest', value: w.finish() };
}

/** Encodes a google.rpc.RetryInfo detail. */
export function retryInfo(seconds: number) {
	const w = new BinaryWriter();
	w.tag(1, 2).fork().tag(1, 0).int64(seconds).join();
	return { type: 'google.rpc.RetryInfo', value: w.finish() };
}

function invalid(violations: [string, string][]): ConnectError {
	const err = new ConnectError('invalid request', Code.InvalidArgument);
	err.details.push(badRequest(violations));
	return err;
}

export class FakeAuth {
	/** The signed-in user, as the session cookie would identify it. */
	current: User | undefined;
	users = new Map<string, { user: User; password: string }>();
	tokens: ApiToken[] = [];
	/** Secrets handed out, by token id (the test checks they are not listed). */
	secrets = new Map<string, string>();
	/** Delay GetMe by this many ms (for ordering tests). */
	getMeDelayMs = 0;
	/** Delay UpdateMe by this many ms (for ordering tests). */
	updateMeDelayMs = 0;
	/** When set, sign-in RPCs fail with ResourceExhausted and this retry delay. */
	rateLimitSeconds = 0;
	calls: string[] = [];
	#next = 1;

	#session(): User {
		if (!this.current) throw new ConnectError('not signed in', Code.Unauthenticated);
		return this.current;
	}

	#limit() {
		if (!this.rateLimitSeconds) return;
		const err = new ConnectError('too many requests', Code.ResourceExhausted);
		err.details.push(retryInfo(this.rateLimitSeconds));
		throw err;
	}

	routes = (router: ConnectRouter) => {
		router.service(AuthService, {
			getAuthConfig: () => {
				this.calls.push('getAuthConfig');
				return {
					guestEnabled: true,
					passwordEnabled: true,
					magicLinkEnabled: true,
					devMailboxEnabled: true
				};
			},
			getMe: async () => {
				this.calls.push('getMe');
				const user = this.current;
				if (this.getMeDelayMs) await new Promise((r) => setTimeout(r, this.getMeDelayMs));
				if (!user) throw new ConnectError('not signed in', Code.Unauthenticated);
				return { user };
			},
			signInGuest: (req) => {
				this.calls.push('signInGuest');
				this.#limit();
				const user = create(UserSchema, {
					userId: `u${this.#next++}`,
					displayName: req.displayName || 'Brave Otter',
					isGuest: true,
					guestExpiresAt: timestampFromDate(new Date(Date.now() + 2 * 3600_000))
				});
				this.current = user;
				return { token: 'cookie', user, expiresAt: timestampNow() };
			},
			signUp: (req) => {
				this.calls.push('signUp');
				if (req.password.length < 10) {
					throw invalid([['password', 'value length must be at least 10 characters']]);
				}
				const user = create(UserSchema, {
					userId: this.current?.isGuest ? this.current.userId : `u${this.#next++}`,
					email: req.email,
					displayName: req.displayName || req.email.split('@')[0],
					hasPassword: true
				});
				this.users.set(req.email, { user, password: req.password });
				this.current = user;
				return { session: { token: 'cookie' }, user };
			},
			signIn: (req) => {
				this.calls.push('signIn');
				this.#limit();
				const entry = this.users.get(req.email);
				if (!entry || entry.password !== req.password) {
					throw new ConnectError('wrong email or password', Code.Unauthenticated);
				}
				this.current = entry.user;
				return { session: { token: 'cookie' }, user: entry.user };
			},
			verifyMagicLink: (req) => {
				this.calls.push('verifyMagicLink');
				if (req.secret !== 'good-secret-0123456789') {
					throw new ConnectError('link expired or already used', Code.Unauthenticated);
				}
				const user = create(UserSchema, { userId: 'm1', email: 'm@example.com' });
				this.current = user;
				return { session: { token: 'cookie' }, user, returnTo: '/settings' };
			},
			beginOidcSignIn: (req) => {
				this.calls.push('beginOidcSignIn');
				return {
					authorizationUrl: `http://app.test/auth/oidc/login?return_to=${encodeURIComponent(req.returnTo)}`
				};
			},
			signOut: () => {
				this.calls.push('signOut');
				this.current = undefined;
				return {};
			},
			updateMe: async (req) => {
				this.calls.push('updateMe');
				const user = this.#session();
				if (this.updateMeDelayMs) await new Promise((r) => setTimeout(r, this.updateMeDelayMs));
				// Compare-and-set on the preferences version, like the server.
				if (
					req.preferences &&
					req.ifPreferencesVersion !== undefined &&
					req.ifPreferencesVersion !== user.preferencesVersion
				)
					throw new ConnectError('preferences changed since they were read', Code.Aborted);
				if (req.displayName !== undefined) {
					if (req.displayName === '') throw invalid([['display_name', 'must not be empty']]);
					user.displayName = req.displayName;
				}
				// Replaced whole, like the server.
				if (req.preferences) {
					user.preferences = structuredClone(req.preferences);
					user.preferencesVersion += 1n;
				}
				return { user };
			},
			createApiToken: (req) => {
				this.#session();
				if (!req.name) throw invalid([['name', 'value length must be at least 1 characters']]);
				const id = `00000000-0000-4000-8000-00000000000${this.#next++}`;
				const secret = `sct_${id.slice(-4)}_secretsecret`;
				const token = create(ApiTokenSchema, {
					tokenId: id,
					name: req.name,
					scope: req.scope,
					createdAt: timestampNow(),
					expiresAt: req.expiresIn
						? timestampFromDate(new Date(Date.now() + Number(req.expiresIn.seconds) * 1000))
						: undefined,
					prefix: secret.slice(0, 8)
				});
				this.tokens.unshift(token);
				this.secrets.set(id, secret);
				return { token, secret };
			},
			listApiTokens: () => {
				this.#session();
				return { tokens: this.tokens };
			},
			revokeApiToken: (req) => {
				this.#session();
				const before = this.tokens.length;
				this.tokens = this.tokens.filter((t) => t.tokenId !== req.tokenId);
				if (this.tokens.length === before) throw new ConnectError('no such token', Code.NotFound);
				return {};
			}
		});
	};
}
