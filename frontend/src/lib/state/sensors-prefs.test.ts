import { createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { AuthService, type User } from '$lib/gen/sensocto/v1/auth_pb';
import { FakeAuth } from '../../test/fake-auth';
import { SensorPrefsStore, type Exclusive, type PrefsOptions } from './sensors-prefs.svelte';

async function setup() {
	const fake = new FakeAuth();
	const client = createClient(AuthService, createRouterTransport(fake.routes));
	await client.signInGuest({});
	await client.updateMe({
		preferences: { theme: 'dark', pinnedSensors: ['a'], favoriteSensors: [] }
	});
	// Each tab starts from the user as it was loaded (a copy that goes stale).
	const loaded = structuredClone((await client.getMe({})).user) as User;
	const tab = (o: PrefsOptions = {}) =>
		new SensorPrefsStore(client, () => loaded, { broadcast: false, debounceMs: 5, ...o });
	const server = () => fake.current?.preferences ?? {};
	return { fake, client, tab, server };
}

/** One lock shared by "tabs" of one browser (what navigator.locks gives). */
function sharedLock(): Exclusive {
	let chain: Promise<unknown> = Promise.resolve();
	return (fn) => {
		const run = chain.then(fn, fn);
		chain = run.catch(() => {});
		return run;
	};
}

const sorted = (v: unknown) => [...(v as string[])].sort();

describe('SensorPrefsStore', () => {
	it('shows a change at once and saves it, keeping the other keys', async () => {
		const { tab, server } = await setup();
		const t = tab();
		expect([...t.pinned]).toEqual(['a']);
		t.togglePin('b');
		t.toggleFavourite('x');
		expect([...t.pinned]).toEqual(['a', 'b']);
		await t.flush();
		expect(server()).toEqual({ theme: 'dark', pinnedSensors: ['a', 'b'], favoriteSensors: ['x'] });
		t.togglePin('a');
		await t.flush();
		expect(server().pinnedSensors).toEqual(['b']);
		expect(t.error).toBeUndefined();
	});

	it('two tabs saving at the same time keep both changes, also in the same list', async () => {
		const { fake, tab, server } = await setup();
		fake.updateMeDelayMs = 20;
		const lock = sharedLock();
		const a = tab({ exclusive: lock });
		const b = tab({ exclusive: lock });
		a.togglePin('b');
		b.togglePin('c');
		b.toggleFavourite('x');
		await Promise.all([a.flush(), b.flush()]);
		expect(sorted(server().pinnedSensors)).toEqual(['a', 'b', 'c']);
		expect(server().favoriteSensors).toEqual(['x']);
		expect(server().theme).toBe('dark');
		// The later saver shows both.
		expect(sorted([...b.pinned])).toEqual(['a', 'b', 'c']);
	});

	it('a stale copy (another device saved before) does not overwrite the newer one', async () => {
		const { tab, server } = await setup();
		const a = tab();
		const b = tab(); // its own lock: another device
		a.togglePin('b');
		await a.flush();
		b.toggleFavourite('x'); // b still believes pinned = [a]
		await b.flush();
		expect(server().pinnedSensors).toEqual(['a', 'b']);
		expect(server().favoriteSensors).toEqual(['x']);
		expect([...b.pinned]).toEqual(['a', 'b']);
	});

	it('two devices saving at the same time keep both changes (compare-and-set, retried)', async () => {
		const { fake, tab, server } = await setup();
		fake.updateMeDelayMs = 20; // both read the same version before either writes
		const a = tab(); // no shared lock: two devices
		const b = tab();
		a.togglePin('b');
		b.togglePin('c');
		await Promise.all([a.flush(), b.flush()]);
		expect(sorted(server().pinnedSensors)).toEqual(['a', 'b', 'c']);
		expect(a.error).toBeUndefined();
		expect(b.error).toBeUndefined();
		expect(fake.calls.filter((c) => c === 'updateMe').length).toBeGreaterThan(3); // one was refused and retried
	});

	it('a change made while a save is in flight is not lost', async () => {
		const { fake, tab, server } = await setup();
		fake.updateMeDelayMs = 30;
		const t = tab();
		t.togglePin('b');
		const first = t.flush();
		await new Promise((r) => setTimeout(r, 10)); // the first save is in flight
		t.togglePin('a'); // unpin a
		t.togglePin('c');
		expect([...t.pinned]).toEqual(['b', 'c']);
		await first;
		expect([...t.pinned]).toEqual(['b', 'c']); // not reverted by the first answer
		await t.flush();
		expect(server().pinnedSensors).toEqual(['b', 'c']);
		expect(fake.calls.filter((c) => c === 'updateMe')).toHaveLength(3); // setup + 2 saves
	});

	it('a failed save keeps the change shown and pending, and the next save carries it', async () => {
		const { fake, tab, server } = await setup();
		const t = tab();
		const user = fake.current;
		fake.current = undefined; // signed out: the save fails
		t.togglePin('b');
		await t.flush();
		expect(t.error).toMatch(/Could not save/);
		expect([...t.pinned]).toEqual(['a', 'b']);
		fake.current = user;
		t.toggleFavourite('x');
		await t.flush();
		expect(t.error).toBeUndefined();
		expect(server().pinnedSensors).toEqual(['a', 'b']);
		expect(server().favoriteSensors).toEqual(['x']);
	});

	it("a tab shows another tab's saved change (BroadcastChannel)", async () => {
		const { tab } = await setup();
		const a = tab({ broadcast: true });
		const b = tab({ broadcast: true });
		try {
			a.togglePin('b');
			await a.flush();
			await expect.poll(() => [...b.pinned]).toEqual(['a', 'b']);
		} finally {
			a.close();
			b.close();
		}
	});
});
