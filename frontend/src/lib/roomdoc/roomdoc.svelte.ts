// The room page's shared document as Svelte state: wraps RoomSync (sync.ts) and exposes
// the current document, the user's rights and the controller hand-off actions to the
// panels (notes, media, 3D viewer, whiteboard, annotations).
import * as A from '@automerge/automerge';
import type { Client } from '@connectrpc/connect';
import {
	RoomEventKind,
	RoomRole,
	type RoomService,
	type WatchRoomResponse
} from '../gen/sensocto/v1/room_pb';
import { describeError } from '../api/errors';
import { ready, RoomSync, scalar, str, type Controlled, type RoomDoc } from './sync';

export type ControlledKey = 'media' | 'viewer';

export interface RoomDocOptions {
	client: Client<typeof RoomService>;
	roomId: string;
	/** The tab id of the page's WatchRoom stream (the sync peer id). */
	tabId: string;
	/** The signed-in user's id. */
	userId: string;
	/** The user's role in the room. */
	role: RoomRole;
}

export class RoomDocState {
	doc = $state.raw<A.Doc<RoomDoc>>(A.init<RoomDoc>());
	/** Local edits the server has not acknowledged yet (offline or in flight). */
	pending = $state(false);
	/** The last refusal or sync failure, for a notice. */
	error = $state('');
	readonly userId: string;
	role = $state(RoomRole.MEMBER);
	private readonly sync: RoomSync;

	constructor(o: RoomDocOptions) {
		this.userId = o.userId;
		this.role = o.role;
		this.sync = new RoomSync({
			client: o.client,
			roomId: o.roomId,
			peerId: o.tabId,
			onChange: (d) => (this.doc = d),
			onPending: (p) => (this.pending = p),
			onError: (e) => (this.error = describeError(e))
		});
	}

	get ready(): boolean {
		return ready(this.doc);
	}

	/** Feeds a WatchRoom event: a new stream (SNAPSHOT) restarts sync; STATE carries a message. */
	handleEvent(ev: WatchRoomResponse): void {
		if (ev.kind === RoomEventKind.SNAPSHOT) void this.sync.restart();
		else if (ev.kind === RoomEventKind.STATE) void this.sync.receive(ev.syncMessage);
	}

	/** Syncs now (first load, reconnect). */
	start(): Promise<void> {
		return this.sync.restart();
	}

	close(): void {
		this.sync.close();
	}

	/** Changes the document; false before the first sync. */
	change(fn: A.ChangeFn<RoomDoc>): boolean {
		this.error = '';
		return this.sync.change(fn);
	}

	get manager(): boolean {
		return this.role === RoomRole.OWNER || this.role === RoomRole.ADMIN;
	}

	/** Whether a member-writable section is locked for this user. */
	locked(section: 'notes' | 'whiteboard' | 'annotations'): boolean {
		return !this.manager && !!this.doc.settings?.locked?.[section];
	}

	controller(key: ControlledKey): string {
		return str(this.doc[key]?.controller);
	}

	request(key: ControlledKey): string {
		return str(this.doc[key]?.request);
	}

	/** True when this user controls the section. */
	controls(key: ControlledKey): boolean {
		return this.controller(key) === this.userId;
	}

	/** Takes free control, or asks the controller for it. */
	requestControl(key: ControlledKey): void {
		this.change((d) => {
			const c = d[key] as Controlled;
			if (str(c.controller) === '') c.controller = scalar(this.userId);
			else c.request = scalar(this.userId);
		});
	}

	/** Hands control to the member who asked for it. */
	grant(key: ControlledKey): void {
		const to = this.request(key);
		if (!to) return;
		this.change((d) => {
			const c = d[key] as Controlled;
			c.controller = scalar(to);
			c.request = scalar('');
		});
	}

	/** Gives up control (to the pending requester, if any). */
	release(key: ControlledKey): void {
		const to = this.request(key);
		this.change((d) => {
			const c = d[key] as Controlled;
			c.controller = scalar(to);
			c.request = scalar('');
		});
	}
}
