/* eslint-disable svelte/prefer-svelte-reactivity -- the pending-change maps are bookkeeping that must not trigger renders; what the UI reads is in SvelteSet and $state. */
// SensorPrefsStore keeps the lobby's pinned and favourite sensors in the user's
// preferences (AuthService.UpdateMe). The server replaces preferences whole, so a save
// built from this tab's copy could wipe what another tab (or device) saved meanwhile, or
// a second quick change could race the first. So the store records *changes* (this id
// pinned, that one unfavoured), not snapshots, and every save:
//   1. runs alone: one at a time in this tab, and across this browser's tabs under a
//      Web Lock (navigator.locks) when there is one;
//   2. reads the current preferences (GetMe), applies the pending changes to them, keeps
//      every other key as the server has it, and writes that (UpdateMe);
//   3. shows the server's result plus any change made while it was in flight, and tells
//      the other tabs (BroadcastChannel) to re-read.
// Changes show at once and are saved shortly after; a failed save keeps them pending
// (retried with the next change or flush) and says so. Across devices the write is a
// compare-and-set on the preferences version (UpdateMe if_preferences_version): a save
// that lost the race reads again and re-applies its changes.
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import { createContext } from 'svelte';
import { SvelteSet } from 'svelte/reactivity';
import type { AuthService, User } from '$lib/gen/sensocto/v1/auth_pb';
import { describeError } from '$lib/api/errors';

const FAV = 'favoriteSensors';
const PIN = 'pinnedSensors';
type ListKey = typeof FAV | typeof PIN;
const CHANNEL = 'sensocto:prefs';
/** Saves that lose the compare-and-set race are tried again this many times in all. */
const MAX_ATTEMPTS = 5;

/** Runs fn exclusively (a lock shared by every tab of this browser, where available). */
export type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;

function ids(v: JsonValue | undefined): string[] {
	return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The browser's Web Lock, else a lock for this tab only. */
function browserLock(): Exclusive {
	let chain: Promise<unknown> = Promise.resolve();
	const local: Exclusive = (fn) => {
		const run = chain.then(fn, fn);
		chain = run.catch(() => {});
		return run;
	};
	const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
	if (!locks) return local;
	return (fn) => locks.request(CHANNEL, fn);
}

export interface PrefsOptions {
	/** Save delay after a change (ms). */
	debounceMs?: number;
	/** Mutual exclusion for saves; default: a Web Lock across tabs. */
	exclusive?: Exclusive;
	/** Listen to and notify other tabs (BroadcastChannel); default when available. */
	broadcast?: boolean;
}

export class SensorPrefsStore {
	readonly favourites = new SvelteSet<string>();
	readonly pinned = new SvelteSet<string>();
	error = $state<string | undefined>(undefined);
	saving = $state(false);

	readonly #client: Client<typeof AuthService>;
	readonly #user: () => User | undefined;
	readonly #debounceMs: number;
	readonly #exclusive: Exclusive;
	readonly #channel: BroadcastChannel | undefined;
	/** Changes not saved yet: per list, id → wanted membership (the last change wins). */
	#pending: Record<ListKey, Map<string, boolean>> = { [FAV]: new Map(), [PIN]: new Map() };
	/** Changes the running save carries (shown until its answer comes). */
	#inflight: Record<ListKey, Map<string, boolean>> = { [FAV]: new Map(), [PIN]: new Map() };
	/** The server's lists as last read. */
	#server: Record<ListKey, string[]> = { [FAV]: [], [PIN]: [] };
	#timer: ReturnType<typeof setTimeout> | undefined;
	#tail: Promise<void> = Promise.resolve();

	constructor(
		client: Client<typeof AuthService>,
		user: () => User | undefined,
		options: PrefsOptions = {}
	) {
		this.#client = client;
		this.#user = user;
		this.#debounceMs = options.debounceMs ?? 400;
		this.#exclusive = options.exclusive ?? browserLock();
		if ((options.broadcast ?? true) && typeof BroadcastChannel !== 'undefined') {
			this.#channel = new BroadcastChannel(CHANNEL);
			this.#channel.onmessage = () => void this.refresh();
		}
		const p = this.#user()?.preferences;
		if (p) this.#adopt(p);
		else void this.refresh();
	}

	toggleFavourite(id: string): void {
		this.#change(FAV, id, !this.favourites.has(id));
	}

	togglePin(id: string): void {
		this.#change(PIN, id, !this.pinned.has(id));
	}

	#change(list: ListKey, id: string, on: boolean): void {
		this.#pending[list].set(id, on);
		this.#show();
		clearTimeout(this.#timer);
		this.#timer = setTimeout(() => void this.flush(), this.#debounceMs);
	}

	/** Saves the pending changes now (after any save already running). */
	flush(): Promise<void> {
		clearTimeout(this.#timer);
		this.#timer = undefined;
		const run = this.#tail.then(() => this.#save());
		this.#tail = run.catch(() => {});
		return run;
	}

	/** Re-reads the preferences (another tab saved); pending changes stay on top. */
	refresh(): Promise<void> {
		const run = this.#tail.then(async () => {
			try {
				const res = await this.#client.getMe({});
				if (res.user?.preferences) this.#adopt(res.user.preferences);
			} catch {
				// Keep what is shown; the next save reads again.
			}
		});
		this.#tail = run.catch(() => {});
		return run;
	}

	/** Stops listening to other tabs. */
	close(): void {
		clearTimeout(this.#timer);
		this.#channel?.close();
	}

	async #save(): Promise<void> {
		if (this.#pending[FAV].size === 0 && this.#pending[PIN].size === 0) return;
		// What this save carries; changes made while it runs stay pending for the next.
		const taken = this.#pending;
		this.#pending = { [FAV]: new Map(), [PIN]: new Map() };
		this.#inflight = taken;
		this.saving = true;
		try {
			await this.#exclusive(async () => {
				// Compare-and-set: the write names the version it read; if another device
				// saved in between, the server refuses it (ABORTED) and we read again.
				for (let attempt = 1; ; attempt++) {
					const me = await this.#client.getMe({});
					const current: JsonObject = { ...(me.user?.preferences ?? {}) };
					const preferences: JsonObject = {
						...current,
						[FAV]: apply(ids(current[FAV]), taken[FAV]),
						[PIN]: apply(ids(current[PIN]), taken[PIN])
					};
					try {
						const res = await this.#client.updateMe({
							preferences,
							ifPreferencesVersion: me.user?.preferencesVersion ?? 0n
						});
						this.#inflight = { [FAV]: new Map(), [PIN]: new Map() };
						this.#adopt(res.user?.preferences ?? preferences);
						return;
					} catch (err) {
						if (attempt >= MAX_ATTEMPTS || ConnectError.from(err).code !== Code.Aborted) throw err;
					}
				}
			});
			this.error = undefined;
			this.#channel?.postMessage('saved');
		} catch (err) {
			this.#inflight = { [FAV]: new Map(), [PIN]: new Map() };
			// Put the changes back under any newer ones, to go with the next save.
			for (const list of [FAV, PIN] as const) {
				for (const [id, on] of taken[list])
					if (!this.#pending[list].has(id)) this.#pending[list].set(id, on);
			}
			this.#show();
			this.error = `Could not save: ${describeError(err)}`;
		} finally {
			this.saving = false;
		}
	}

	/** Takes the server's lists and shows them with the pending changes applied. */
	#adopt(p: JsonObject): void {
		this.#server = { [FAV]: ids(p[FAV]), [PIN]: ids(p[PIN]) };
		this.#show();
	}

	#show(): void {
		for (const [list, set] of [
			[FAV, this.favourites],
			[PIN, this.pinned]
		] as const) {
			sync(set, apply(apply(this.#server[list], this.#inflight[list]), this.#pending[list]));
		}
	}
}

/** The list with the changes applied (order kept, additions at the end). */
function apply(list: string[], changes: Map<string, boolean>): string[] {
	const out = list.filter((id) => changes.get(id) !== false);
	for (const [id, on] of changes) if (on && !out.includes(id)) out.push(id);
	return out;
}

function sync(set: SvelteSet<string>, want: string[]): void {
	const w = new Set(want);
	for (const id of [...set]) if (!w.has(id)) set.delete(id);
	for (const id of want) if (!set.has(id)) set.add(id);
}

const [getPrefsContext, setPrefsContext] = createContext<SensorPrefsStore>();
export { getPrefsContext as getPrefs, setPrefsContext as setPrefs };
