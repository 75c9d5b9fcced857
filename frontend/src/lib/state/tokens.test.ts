import { createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { formError } from '$lib/api/errors';
import { AuthService, TokenScope } from '$lib/gen/sensocto/v1/auth_pb';
import { FakeAuth } from '../../test/fake-auth';
import { ApiTokensStore, scopeLabel } from './tokens.svelte';

async function setup() {
	const fake = new FakeAuth();
	const client = createClient(AuthService, createRouterTransport(fake.routes));
	await client.signInGuest({});
	return { fake, store: new ApiTokensStore(client) };
}

describe('ApiTokensStore', () => {
	it('lists, creates (secret once), and revokes tokens', async () => {
		const { fake, store } = await setup();
		await store.refresh();
		expect(store.loaded).toBe(true);
		expect(store.tokens).toEqual([]);

		const created = await store.create(' bridge ', TokenScope.PUBLISH, '30d');
		expect(created.token.name).toBe('bridge');
		expect(created.secret).toBe(fake.secrets.get(created.token.tokenId));
		expect(store.created?.secret).toBe(created.secret);
		expect(store.tokens.map((t) => t.name)).toEqual(['bridge']);
		expect(scopeLabel(store.tokens[0].scope)).toBe('publish');
		const days = (Number(store.tokens[0].expiresAt!.seconds) * 1000 - Date.now()) / 86400_000;
		expect(Math.round(days)).toBe(30);

		// The list from the server never carries the secret.
		await store.refresh();
		expect(
			JSON.stringify(store.tokens, (_k, v) => (typeof v === 'bigint' ? String(v) : v))
		).not.toContain(created.secret);
		// Shown once: after dismissing, nothing can bring it back.
		store.dismissSecret();
		expect(store.created).toBeUndefined();
		await store.refresh();
		expect(store.created).toBeUndefined();

		const second = await store.create('ci', TokenScope.FULL, 'never');
		expect(second.token.expiresAt).toBeUndefined();
		expect(store.created?.token.name).toBe('ci');
		expect(store.tokens.map((t) => t.name)).toEqual(['ci', 'bridge']);

		await store.revoke(created.token.tokenId);
		expect(store.tokens.map((t) => t.name)).toEqual(['ci']);
		expect(fake.tokens.map((t) => t.name)).toEqual(['ci']);
		// Revoking the token whose secret is on screen hides the secret too.
		await store.revoke(second.token.tokenId);
		expect(store.created).toBeUndefined();
		expect(store.tokens).toEqual([]);
	});

	it('passes field violations to the form and keeps the list', async () => {
		const { store } = await setup();
		await store.create('one', TokenScope.FULL, '1y');
		const err = await store.create('  ', TokenScope.FULL, 'never').catch((e) => e);
		expect(formError(err, ['name']).fields).toEqual({
			name: 'value length must be at least 1 characters'
		});
		expect(store.tokens.map((t) => t.name)).toEqual(['one']);
	});

	it('reports a failed list without throwing', async () => {
		const fake = new FakeAuth();
		const store = new ApiTokensStore(createClient(AuthService, createRouterTransport(fake.routes)));
		await store.refresh();
		expect(store.error).toBe('not signed in');
		expect(store.loaded).toBe(false);
	});
});
