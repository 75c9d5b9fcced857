// ApiTokensStore manages the signed-in user's API tokens for the settings page: the list
// (never with secrets), creation (the secret is held here until dismissed, and never
// fetched again — the server only keeps a hash), and revocation.
import type { Client } from '@connectrpc/connect';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { TokenScope, type ApiToken, type AuthService } from '$lib/gen/sensocto/v1/auth_pb';
import { describeError } from '$lib/api/errors';

/** Expiry choices offered when creating a token. */
export const tokenExpiries = [
	{ id: 'never', label: 'Never', ms: undefined },
	{ id: '30d', label: '30 days', ms: 30 * 24 * 3600 * 1000 },
	{ id: '1y', label: '1 year', ms: 365 * 24 * 3600 * 1000 }
] as const;

export type TokenExpiry = (typeof tokenExpiries)[number]['id'];

/** A freshly created token and its secret, shown once. */
export interface CreatedToken {
	token: ApiToken;
	secret: string;
}

export class ApiTokensStore {
	/** The user's tokens, newest first; not deeply reactive (replaced on change). */
	tokens = $state.raw<ApiToken[]>([]);
	/** True once the first list arrived. */
	loaded = $state(false);
	loading = $state(false);
	/** Why the last list call failed. */
	error = $state<string | undefined>(undefined);
	/** The token just created, with its secret, until dismissSecret(). */
	created = $state.raw<CreatedToken | undefined>(undefined);

	readonly #client: Client<typeof AuthService>;

	constructor(client: Client<typeof AuthService>) {
		this.#client = client;
	}

	/** Fetches the list. */
	async refresh(): Promise<void> {
		this.loading = true;
		try {
			const res = await this.#client.listApiTokens({});
			this.tokens = res.tokens;
			this.loaded = true;
			this.error = undefined;
		} catch (err) {
			this.error = describeError(err);
		} finally {
			this.loading = false;
		}
	}

	/**
	 * Creates a token and keeps its secret in `created` for the one-time display. Errors
	 * are thrown for the form to show (field violations, rate limits).
	 */
	async create(name: string, scope: TokenScope, expiry: TokenExpiry): Promise<CreatedToken> {
		const ms = tokenExpiries.find((e) => e.id === expiry)?.ms;
		const res = await this.#client.createApiToken({
			name: name.trim(),
			scope,
			expiresIn: ms === undefined ? undefined : durationFromMs(ms)
		});
		if (!res.token || !res.secret) throw new Error('the server answered without a token');
		const created = { token: res.token, secret: res.secret };
		this.created = created;
		this.tokens = [res.token, ...this.tokens.filter((t) => t.tokenId !== res.token?.tokenId)];
		return created;
	}

	/** Forgets the secret of the token just created; it cannot be shown again. */
	dismissSecret(): void {
		this.created = undefined;
	}

	/** Revokes a token; it disappears from the list at once. Errors are thrown. */
	async revoke(tokenId: string): Promise<void> {
		await this.#client.revokeApiToken({ tokenId });
		this.tokens = this.tokens.filter((t) => t.tokenId !== tokenId);
		if (this.created?.token.tokenId === tokenId) this.created = undefined;
	}
}

/** Human name of a scope. */
export function scopeLabel(scope: TokenScope): string {
	switch (scope) {
		case TokenScope.PUBLISH:
			return 'publish';
		case TokenScope.FULL:
			return 'full';
		default:
			return 'unknown';
	}
}
