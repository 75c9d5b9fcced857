// The root layout loads the session from an $effect; the effect must not come to depend
// on the store's state (which would ask GetMe again whenever it changes).
import { createClient, createRouterTransport } from '@connectrpc/connect';
import { flushSync } from 'svelte';
import { expect, it, vi } from 'vitest';
import { AuthService } from '$lib/gen/sensocto/v1/auth_pb';
import { FakeAuth } from '../../test/fake-auth';
import { SessionStore } from './session.svelte';

it('asks GetMe once when an effect loads the session', async () => {
	const fake = new FakeAuth();
	const session = new SessionStore(createClient(AuthService, createRouterTransport(fake.routes)));
	const destroy = $effect.root(() => {
		$effect(() => {
			void session.load();
		});
	});
	flushSync();
	await vi.waitFor(() => expect(session.status).toBe('signed-out'));
	await vi.waitFor(() => expect(session.config).toBeDefined());
	flushSync();
	await new Promise((r) => setTimeout(r, 20));
	expect(fake.calls.filter((c) => c === 'getMe')).toEqual(['getMe']);
	expect(fake.calls.filter((c) => c === 'getAuthConfig')).toEqual(['getAuthConfig']);
	destroy();
});
