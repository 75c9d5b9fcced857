/* eslint-disable svelte/prefer-svelte-reactivity -- plain Sets here are bookkeeping that must not trigger renders; what the UI reads is in $state. */
// RoomStore is one open room: it keeps a RoomService.WatchRoom stream open (which marks
// this tab present), applies its events (the full state first, then changes) to the
// room, its members and its sensors, renews the tab's presence with ReportRoomPresence
// and says which view (the grid or a lens) the tab shows. The stream ends for good when
// the room is deleted (NotFound) or the viewer is removed or leaves (PermissionDenied);
// other failures reconnect with backoff. The room page's actions (settings, members,
// invite, sensors) go through it and apply the answer at once.
import type { Client } from '@connectrpc/connect';
import { Code } from '@connectrpc/connect';
import { createContext, untrack } from 'svelte';
import {
	RoomEventKind,
	RoomRole,
	type Member,
	type Room,
	type RoomService,
	type WatchRoomResponse
} from '$lib/gen/sensocto/v1/room_pb';
import type { Sensor } from '$lib/gen/sensocto/v1/sensor_pb';
import { hasCode } from '$lib/api/errors';
import { keepOpen } from '$lib/api/reconnect';

export type RoomStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** Why a room stream ended for good. */
export type RoomClosed = 'removed' | 'left' | 'deleted' | 'not-found' | 'not-member';

export interface RoomOptions {
	/** This tab's id (the attention reporter's): several tabs of one member count once. */
	tabId: string;
	/** Presence heartbeat before the server said its lapse (ms); the server allows 30 s. */
	heartbeatMs?: number;
	minBackoffMs?: number;
	maxBackoffMs?: number;
}

export class RoomStore {
	readonly roomId: string;
	readonly tabId: string;
	room = $state.raw<Room | undefined>(undefined);
	/** Members: owner, admins, members, each by name. */
	members = $state.raw<Member[]>([]);
	/** The room's sensors as the server describes them. */
	sensors = $state.raw<Sensor[]>([]);
	status = $state<RoomStatus>('connecting');
	/** Set when the stream ended for good. */
	closed = $state<RoomClosed | undefined>(undefined);
	/** Why the stream is reconnecting. */
	error = $state<string | undefined>(undefined);
	/** Events received (a test aid). */
	events = $state(0);

	/** The caller's role (UNSPECIFIED until the room is known). */
	myRole = $derived(this.room?.myRole ?? RoomRole.UNSPECIFIED);
	/** Owner and admins manage settings, the invite, sensors and members. */
	canManage = $derived(this.myRole === RoomRole.OWNER || this.myRole === RoomRole.ADMIN);
	isOwner = $derived(this.myRole === RoomRole.OWNER);
	presentCount = $derived(this.members.filter((m) => m.present).length);

	readonly #client: Client<typeof RoomService>;
	readonly #minBackoffMs: number;
	readonly #maxBackoffMs: number;
	#heartbeatMs: number;
	#view = '';
	#abort: AbortController | undefined;
	#heartbeat: ReturnType<typeof setTimeout> | undefined;
	#leaving = false;
	#listeners = new Set<(res: WatchRoomResponse) => void>();

	constructor(client: Client<typeof RoomService>, roomId: string, options: RoomOptions) {
		this.#client = client;
		this.roomId = roomId;
		this.tabId = options.tabId;
		this.#heartbeatMs = options.heartbeatMs ?? 10_000;
		this.#minBackoffMs = options.minBackoffMs ?? 500;
		this.#maxBackoffMs = options.maxBackoffMs ?? 15_000;
	}

	/** Opens the stream (once) in view. */
	start(view = this.#view): void {
		if (this.#abort || this.closed) return;
		this.#view = view;
		const abort = new AbortController();
		this.#abort = abort;
		untrack(() => void this.#run(abort.signal));
	}

	/** Opens the stream again after it ended for good (the viewer joined meanwhile). */
	reopen(): void {
		this.stop();
		this.closed = undefined;
		this.#leaving = false;
		this.status = 'connecting';
		this.start();
	}

	/** Closes the stream: the tab is no longer present. */
	stop(): void {
		this.#abort?.abort();
		this.#abort = undefined;
		clearTimeout(this.#heartbeat);
		this.#heartbeat = undefined;
	}

	/** Says which view the tab shows now ("sensors", "lens:ecg"…); reported at once. */
	setView(view: string): void {
		if (view === this.#view) return;
		this.#view = view;
		if (untrack(() => this.status) === 'live') this.#beat(0);
	}

	/** Calls fn with every event of the stream (shared-state panels read STATE events). */
	onEvent(fn: (res: WatchRoomResponse) => void): () => void {
		this.#listeners.add(fn);
		return () => this.#listeners.delete(fn);
	}

	#run(signal: AbortSignal): Promise<void> {
		return keepOpen(signal, {
			minBackoffMs: this.#minBackoffMs,
			maxBackoffMs: this.#maxBackoffMs,
			open: async (received, failures) => {
				this.status = failures > 0 || this.room ? 'reconnecting' : 'connecting';
				try {
					const stream = this.#client.watchRoom(
						{ roomId: this.roomId, tabId: this.tabId, view: this.#view },
						{ signal }
					);
					for await (const res of stream) {
						if (signal.aborted) return;
						this.apply(res);
						if (res.kind === RoomEventKind.SNAPSHOT) {
							received();
							this.error = undefined;
							this.status = 'live';
							this.#beat(this.#heartbeatMs);
						}
					}
				} catch (err) {
					if (signal.aborted) return;
					// The end for good: no reconnecting (#close aborts the loop).
					const end = this.#ended(err);
					if (end) return this.#close(end);
					if (hasCode(err, Code.Unauthenticated)) return this.stop(); // the layout signs out
					throw err;
				}
			},
			retrying: (why) => {
				clearTimeout(this.#heartbeat);
				this.error = why;
				this.status = 'reconnecting';
			}
		});
	}

	/** Why a stream error ends the room for this tab, or undefined to reconnect. */
	#ended(err: unknown): RoomClosed | undefined {
		if (hasCode(err, Code.PermissionDenied))
			return this.#leaving ? 'left' : this.room ? 'removed' : 'not-member';
		if (hasCode(err, Code.NotFound)) return this.room ? 'deleted' : 'not-found';
		// A malformed id in the address: no such room either.
		if (hasCode(err, Code.InvalidArgument)) return 'not-found';
		return undefined;
	}

	#close(why: RoomClosed): void {
		this.closed = why;
		this.status = 'closed';
		this.sensors = [];
		this.stop();
	}

	/** Renews this tab's presence (and says its view) after ms, then on every heartbeat. */
	#beat(ms: number): void {
		clearTimeout(this.#heartbeat);
		this.#heartbeat = setTimeout(async () => {
			const signal = this.#abort?.signal;
			if (!signal || signal.aborted) return;
			try {
				const res = await this.#client.reportRoomPresence(
					{ roomId: this.roomId, tabId: this.tabId, view: this.#view },
					{ signal }
				);
				// Well within the lapse: a third of it, at most the default.
				if (res.lapseMs > 0) this.#heartbeatMs = Math.min(10_000, res.lapseMs / 3);
			} catch {
				// The stream says what went wrong; the next beat tries again.
			}
			if (!signal.aborted) this.#beat(this.#heartbeatMs);
		}, ms);
	}

	/** Applies one event of the stream (public for tests). */
	apply(res: WatchRoomResponse): void {
		this.events++;
		switch (res.kind) {
			case RoomEventKind.SNAPSHOT:
				if (res.room) this.room = res.room;
				this.members = sortMembers(res.members);
				this.sensors = inRoom(res.sensors, this.room);
				break;
			case RoomEventKind.UPDATED:
				if (res.room) this.room = res.room;
				break;
			case RoomEventKind.MEMBERS:
			case RoomEventKind.PRESENCE:
				if (res.room) this.room = res.room;
				this.members = sortMembers(
					merge(this.members, res.members, res.removedUserIds, (m) => m.userId)
				);
				break;
			case RoomEventKind.SENSORS:
				if (res.room) this.room = res.room;
				this.sensors = inRoom(
					merge(this.sensors, res.sensors, res.removedSensorIds, (s) => s.sensorId),
					this.room
				);
				break;
		}
		for (const fn of this.#listeners) fn(res);
	}

	// ---- actions: each applies the server's answer at once (the stream confirms) ----

	async update(fields: {
		name?: string;
		description?: string;
		isPublic?: boolean;
		membersAddPublicSensors?: boolean;
	}): Promise<void> {
		const res = await this.#client.updateRoom({ roomId: this.roomId, ...fields });
		if (res.room) this.room = res.room;
	}

	async regenerateCode(expiresInSeconds: number): Promise<void> {
		const res = await this.#client.regenerateJoinCode({ roomId: this.roomId, expiresInSeconds });
		if (res.room) this.room = res.room;
	}

	async setRole(userId: string, role: RoomRole): Promise<void> {
		const res = await this.#client.updateMemberRole({ roomId: this.roomId, userId, role });
		if (res.member)
			this.members = sortMembers(merge(this.members, [res.member], [], (m) => m.userId));
	}

	async removeMember(userId: string): Promise<void> {
		await this.#client.removeMember({ roomId: this.roomId, userId });
		this.members = this.members.filter((m) => m.userId !== userId);
	}

	async addSensor(sensorId: string): Promise<void> {
		const res = await this.#client.addRoomSensor({ roomId: this.roomId, sensorId });
		if (res.room) this.room = res.room;
	}

	async removeSensor(sensorId: string): Promise<void> {
		const res = await this.#client.removeRoomSensor({ roomId: this.roomId, sensorId });
		if (res.room) this.room = res.room;
		this.sensors = this.sensors.filter((s) => s.sensorId !== sensorId);
	}

	/** Leaves the room (not the owner); the stream then ends. */
	async leave(): Promise<void> {
		this.#leaving = true;
		try {
			await this.#client.leaveRoom({ roomId: this.roomId });
		} catch (err) {
			this.#leaving = false;
			throw err;
		}
		this.#close('left');
	}

	/** Deletes the room (owner). */
	async remove(): Promise<void> {
		await this.#client.deleteRoom({ roomId: this.roomId });
		this.#close('deleted');
	}
}

const roleOrder: Record<number, number> = {
	[RoomRole.OWNER]: 0,
	[RoomRole.ADMIN]: 1,
	[RoomRole.MEMBER]: 2
};

/** Owner, admins, members; each by name. */
export function sortMembers(list: Member[]): Member[] {
	return [...list].sort(
		(a, b) =>
			(roleOrder[a.role] ?? 3) - (roleOrder[b.role] ?? 3) ||
			a.displayName.localeCompare(b.displayName) ||
			a.userId.localeCompare(b.userId)
	);
}

/** list with changed replaced or added by key, and removed taken out. */
function merge<T>(list: T[], changed: T[], removed: string[], key: (x: T) => string): T[] {
	const byKey = new Map(list.map((x) => [key(x), x]));
	for (const x of changed) byKey.set(key(x), x);
	for (const k of removed) byKey.delete(k);
	return [...byKey.values()];
}

/** The sensors the room holds (its sensor_ids, when the room is known). */
function inRoom(list: Sensor[], room: Room | undefined): Sensor[] {
	if (!room) return list;
	const ids = new Set(room.sensorIds);
	return list.filter((s) => ids.has(s.sensorId));
}

/** Words for a role. */
export function roleName(role: RoomRole): string {
	switch (role) {
		case RoomRole.OWNER:
			return 'Owner';
		case RoomRole.ADMIN:
			return 'Admin';
		case RoomRole.MEMBER:
			return 'Member';
		default:
			return 'Not a member';
	}
}

/** Words for a presence view ("lens:ecg" → "ECG"), given the lens labels by id. */
export function viewName(view: string, lensLabel: (id: string) => string | undefined): string {
	if (view === '' || view === 'sensors') return 'Sensors';
	if (view.startsWith('lens:')) return lensLabel(view.slice(5)) ?? view.slice(5);
	return view;
}

const [getRoom, setRoom] = createContext<RoomStore>();
export { getRoom, setRoom };
