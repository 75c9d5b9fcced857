// SensorPrefsStore keeps the lobby's pinned and favourite sensors in the user's
// preferences (AuthService.UpdateMe; preferences are replaced whole, so the other keys
// are read from the latest known user and kept). Changes show at once and are saved
// shortly after; a failed save is reported and the sets stay as the user left them.
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import { createContext } from 'svelte';
import { SvelteSet } from 'svelte/reactivity';
import type { AuthService, User } from '$lib/gen/sensocto/v1/auth_pb';
import { describeError } from '$lib/api/errors';

const FAV = 'favoriteSensors';
const PIN = 'pinnedSensors';

function ids(v: JsonValue | undefined): string[] {
	return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export class SensorPrefsStore {
	readonly favourites = new SvelteSet<string>();
	readonly pinned = new SvelteSet<string>();
	error = $state<string | undefined>(undefined);
	saving = $state(false);

	readonly #client: Client<typeof AuthService>;
	readonly #user: () => User | undefined;
	#prefs: JsonObject = {};
	#timer: ReturnType<typeof setTimeout> | undefined;
	#loaded = false;

	constructor(client: Client<typeof AuthService>, user: () => User | undefined) {
		this.#client = client;
		this.#user = user;
		this.#load();
	}

	#load(): void {
		const p = this.#user()?.preferences;
		if (!p) return;
		this.#prefs = { ...p };
		for (const id of ids(p[FAV])) this.favourites.add(id);
		for (const id of ids(p[PIN])) this.pinned.add(id);
		this.#loaded = true;
	}

	toggleFavourite(id: string): void {
		if (!this.favourites.delete(id)) this.favourites.add(id);
		this.#save();
	}

	togglePin(id: string): void {
		if (!this.pinned.delete(id)) this.pinned.add(id);
		this.#save();
	}

	#save(): void {
		clearTimeout(this.#timer);
		this.#timer = setTimeout(() => void this.flush(), 400);
	}

	/** Saves now. */
	async flush(): Promise<void> {
		clearTimeout(this.#timer);
		if (!this.#loaded) this.#prefs = { ...(this.#user()?.preferences ?? {}) };
		const preferences: JsonObject = {
			...this.#prefs,
			[FAV]: [...this.favourites],
			[PIN]: [...this.pinned]
		};
		this.saving = true;
		try {
			const res = await this.#client.updateMe({ preferences });
			this.#prefs = { ...(res.user?.preferences ?? preferences) };
			this.#loaded = true;
			this.error = undefined;
		} catch (err) {
			this.error = `Could not save: ${describeError(err)}`;
		} finally {
			this.saving = false;
		}
	}
}

const [getPrefsContext, setPrefsContext] = createContext<SensorPrefsStore>();
export { getPrefsContext as getPrefs, setPrefsContext as setPrefs };
