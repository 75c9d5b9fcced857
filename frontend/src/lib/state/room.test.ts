import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
	MemberSchema,
	RoomEventKind,
	RoomRole,
	RoomService,
	type ReportRoomPresenceRequest,
	type WatchRoomRequest,
	type WatchRoomResponseSchema
} from '$lib/gen/sensocto/v1/room_pb';
import { RoomStore, sortMembers, viewName } from './room.svelte';

afterEach(() => vi.useRealTimers());

const roomId = '0b7e6a52-5d7c-4f0c-9a53-1a9b1f2c3d4e';
type Event = MessageInitShape<typeof WatchRoomResponseSchema>;

/** A fake RoomService whose WatchRoom yields what the test pushes, then ends with end(). */
function setup() {
	const watches: WatchRoomRequest[] = [];
	const reports: ReportRoomPresenceRequest[] = [];
	let push: ((e: Event) => void) | undefined;
	let end: ((err?: Error) => void) | undefined;
	const transport = createRouterTransport(({ service }) => {
		service(RoomService, {
			async *watchRoom(req) {
				watches.push(req);
				const queue: Event[] = [];
				let failure: Error | undefined;
				let done = false;
				let wake: (() => void) | undefined;
				push = (e) => {
					queue.push(e);
					wake?.();
				};
				end = (err) => {
					failure = err;
					done = true;
					wake?.();
				};
				for (;;) {
					while (queue.length) yield queue.shift()!;
					if (done) {
						if (failure) throw failure;
						return;
					}
					await new Promise<void>((r) => (wake = r));
				}
			},
			reportRoomPresence(req) {
				reports.push(req);
				return { lapseMs: 30_000 };
			}
		});
	});
	const store = new RoomStore(createClient(RoomService, transport), roomId, {
		tabId: 'tab-aaaaaaaa',
		minBackoffMs: 10,
		maxBackoffMs: 10
	});
	return {
		store,
		watches,
		reports,
		push: (e: Event) => push?.(e),
		end: (err?: Error) => end?.(err)
	};
}

const member = (userId: string, displayName: string, role: RoomRole, present = false) => ({
	userId,
	displayName,
	role,
	present
});

const snapshot: Event = {
	kind: RoomEventKind.SNAPSHOT,
	room: { roomId, name: 'Study', myRole: RoomRole.OWNER, sensorIds: ['s1'] },
	members: [member('u2', 'Bo', RoomRole.MEMBER), member('u1', 'Ada', RoomRole.OWNER, true)],
	sensors: [{ sensorId: 's1', name: 'Strap' }],
	tabId: 'tab-aaaaaaaa'
};

describe('RoomStore', () => {
	it('applies the snapshot, then only changes: members, presence, sensors, settings', async () => {
		const { store, watches, push } = setup();
		store.start('sensors');
		await vi.waitFor(() => expect(watches).toHaveLength(1));
		expect(watches[0]).toMatchObject({ roomId, tabId: 'tab-aaaaaaaa', view: 'sensors' });
		push(snapshot);
		await vi.waitFor(() => expect(store.status).toBe('live'));
		expect(store.members.map((m) => m.displayName)).toEqual(['Ada', 'Bo']);
		expect(store.canManage).toBe(true);
		expect(store.sensors.map((s) => s.sensorId)).toEqual(['s1']);

		push({
			kind: RoomEventKind.PRESENCE,
			members: [{ ...member('u2', 'Bo', RoomRole.MEMBER, true), views: ['lens:ecg'] }]
		});
		await vi.waitFor(() => expect(store.presentCount).toBe(2));
		expect(store.members[1].views).toEqual(['lens:ecg']);

		push({
			kind: RoomEventKind.MEMBERS,
			members: [member('u3', 'Cy', RoomRole.ADMIN)],
			removedUserIds: ['u2']
		});
		await vi.waitFor(() => expect(store.members.map((m) => m.displayName)).toEqual(['Ada', 'Cy']));

		push({
			kind: RoomEventKind.SENSORS,
			room: { ...snapshot.room, sensorIds: ['s2'] },
			sensors: [{ sensorId: 's2', name: 'Phone' }],
			removedSensorIds: ['s1']
		});
		await vi.waitFor(() => expect(store.sensors.map((s) => s.sensorId)).toEqual(['s2']));

		push({ kind: RoomEventKind.UPDATED, room: { ...snapshot.room, name: 'Renamed' } });
		await vi.waitFor(() => expect(store.room?.name).toBe('Renamed'));
		store.stop();
	});

	it('ends for good when the viewer is removed, and when the room is deleted', async () => {
		const removed = setup();
		removed.store.start('sensors');
		await vi.waitFor(() => expect(removed.watches).toHaveLength(1));
		removed.push(snapshot);
		await vi.waitFor(() => expect(removed.store.status).toBe('live'));
		removed.push({ kind: RoomEventKind.CLOSED });
		removed.end(new ConnectError('you were removed from this room', Code.PermissionDenied));
		await vi.waitFor(() => expect(removed.store.closed).toBe('removed'));
		expect(removed.store.sensors).toEqual([]);
		await new Promise((r) => setTimeout(r, 50));
		expect(removed.watches).toHaveLength(1); // no reconnect

		const deleted = setup();
		deleted.store.start('sensors');
		await vi.waitFor(() => expect(deleted.watches).toHaveLength(1));
		deleted.push(snapshot);
		await vi.waitFor(() => expect(deleted.store.status).toBe('live'));
		deleted.end(new ConnectError('room not found', Code.NotFound));
		await vi.waitFor(() => expect(deleted.store.closed).toBe('deleted'));

		// Never a member of it: not found, or (a public room) not a member yet.
		const unknown = setup();
		unknown.store.start('sensors');
		await vi.waitFor(() => expect(unknown.watches).toHaveLength(1));
		unknown.end(new ConnectError('room not found', Code.NotFound));
		await vi.waitFor(() => expect(unknown.store.closed).toBe('not-found'));
		const outsider = setup();
		outsider.store.start('sensors');
		await vi.waitFor(() => expect(outsider.watches).toHaveLength(1));
		outsider.end(new ConnectError('not a member', Code.PermissionDenied));
		await vi.waitFor(() => expect(outsider.store.closed).toBe('not-member'));
	});

	it('reconnects after a failure and reports presence with the current view', async () => {
		const { store, watches, reports, push, end } = setup();
		store.start('sensors');
		await vi.waitFor(() => expect(watches).toHaveLength(1));
		end(new ConnectError('down', Code.Unavailable));
		await vi.waitFor(() => expect(watches).toHaveLength(2));
		push(snapshot);
		await vi.waitFor(() => expect(store.status).toBe('live'));
		store.setView('lens:ecg');
		await vi.waitFor(() => expect(reports.at(-1)).toMatchObject({ view: 'lens:ecg', roomId }));
		expect(reports.at(-1)?.tabId).toBe('tab-aaaaaaaa');
		store.stop();
	});

	it('orders members and names views', () => {
		const list = sortMembers([
			create(MemberSchema, member('c', 'Cy', RoomRole.MEMBER)),
			create(MemberSchema, member('b', 'Bo', RoomRole.ADMIN)),
			create(MemberSchema, member('a', 'Zed', RoomRole.OWNER)),
			create(MemberSchema, member('d', 'Al', RoomRole.MEMBER))
		]);
		expect(list.map((m) => m.displayName)).toEqual(['Zed', 'Bo', 'Al', 'Cy']);
		const label = (id: string) => (id === 'ecg' ? 'ECG' : undefined);
		expect(viewName('sensors', label)).toBe('Sensors');
		expect(viewName('lens:ecg', label)).toBe('ECG');
		expect(viewName('lens:new', label)).toBe('new');
	});
});
