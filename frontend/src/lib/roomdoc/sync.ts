// The room's shared document on the client (docs/room-document.md): one Automerge
// document per room page, synced with the server by the Automerge sync protocol. The
// client sends its messages with SyncRoomState and applies the server's from the reply and
// from WatchRoom STATE events (the room page's stream names this tab's peer id).
import * as A from '@automerge/automerge';
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import type { RoomService } from '../gen/sensocto/v1/room_pb';

/** A control-held section's common fields (media player, 3D viewer). */
export interface Controlled {
	controller: A.ImmutableString | string;
	request: A.ImmutableString | string;
}

export interface MediaState extends Controlled {
	source: A.ImmutableString | string;
	playing: boolean;
	/** Seconds at refTime. */
	position: number;
	/** Unix ms. */
	refTime: number;
	rate: number;
}

export interface ViewerState extends Controlled {
	model: A.ImmutableString | string;
	camera: { position: number[]; target: number[] };
}

export interface Stroke {
	id: A.ImmutableString | string;
	author: A.ImmutableString | string;
	color: A.ImmutableString | string;
	width: number;
	/** Little-endian float32 x, y pairs in board units (0..1 across). */
	points: Uint8Array;
}

export interface Annotation {
	id: A.ImmutableString | string;
	author: A.ImmutableString | string;
	sensorId: A.ImmutableString | string;
	attributeId?: A.ImmutableString | string;
	from: number;
	to: number;
	text: A.ImmutableString | string;
}

export interface RoomDoc {
	schema: number;
	/** Collaborative text: the only Text field. */
	notes: string;
	settings: { locked: { notes?: boolean; whiteboard?: boolean; annotations?: boolean } };
	media: MediaState;
	viewer: ViewerState;
	whiteboard: { strokes: Stroke[] };
	annotations: Annotation[];
}

/** Wraps a scalar string field value for writing (every string field but notes). */
export function scalar(s: string): A.ImmutableString {
	return new A.ImmutableString(s);
}

/** Reads a scalar string field (ImmutableString, or absent) as a string. */
export function str(v: A.ImmutableString | string | undefined | null): string {
	if (v == null) return '';
	return typeof v === 'string' ? v : v.toString();
}

/** True once the first sync brought the server's skeleton. */
export function ready(doc: A.Doc<RoomDoc>): boolean {
	return (doc as Partial<RoomDoc>).schema === 1;
}

/** Encodes stroke points as little-endian float32 pairs. */
export function encodePoints(points: [number, number][]): Uint8Array {
	const buf = new ArrayBuffer(points.length * 8);
	const view = new DataView(buf);
	points.forEach(([x, y], i) => {
		view.setFloat32(i * 8, x, true);
		view.setFloat32(i * 8 + 4, y, true);
	});
	return new Uint8Array(buf);
}

/** Decodes stroke points. */
export function decodePoints(bytes: Uint8Array): [number, number][] {
	const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	const out: [number, number][] = [];
	for (let i = 0; i + 8 <= bytes.byteLength; i += 8) {
		out.push([view.getFloat32(i, true), view.getFloat32(i + 4, true)]);
	}
	return out;
}

/** A random peer id for this tab (8 to 64 of [A-Za-z0-9_-]). */
export function newPeerId(): string {
	const b = new Uint8Array(12);
	crypto.getRandomValues(b);
	return 'tab-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export interface RoomSyncOptions {
	client: Client<typeof RoomService>;
	roomId: string;
	peerId: string;
	/** Called after every change of the document (local or remote). */
	onChange?: (doc: A.Doc<RoomDoc>) => void;
	/** Called when the server refused our changes (the document was reset) or sync failed. */
	onError?: (err: ConnectError) => void;
	/** Called when sync state changes: true while local changes wait for the server. */
	onPending?: (pending: boolean) => void;
}

/**
 * RoomSync keeps the tab's copy of the room document in sync. Local edits apply at once
 * (works offline); they are sent whenever the server can be reached, and merge with
 * everyone else's. Sends are serialised: one SyncRoomState at a time.
 */
export class RoomSync {
	doc: A.Doc<RoomDoc> = A.init<RoomDoc>();
	private state: A.SyncState = A.initSyncState();
	private inflight: Promise<void> | null = null;
	private again = false;
	private closed = false;
	/** Local changes not yet acknowledged by the server. */
	unsent = false;

	constructor(private readonly o: RoomSyncOptions) {}

	get peerId(): string {
		return this.o.peerId;
	}

	/** Applies a sync message from the server (a WatchRoom STATE event), then answers. */
	receive(msg: Uint8Array): Promise<void> {
		if (this.closed || msg.length === 0) return Promise.resolve();
		const [doc, state] = A.receiveSyncMessage(this.doc, this.state, msg);
		this.state = state;
		if (doc !== this.doc) {
			this.doc = doc;
			this.o.onChange?.(doc);
		}
		return this.flush();
	}

	/** Changes the document locally and sends the change. Refused before the first sync. */
	change(fn: A.ChangeFn<RoomDoc>): boolean {
		if (this.closed || !ready(this.doc)) return false;
		const doc = A.change(this.doc, fn);
		if (doc === this.doc) return true;
		this.doc = doc;
		this.unsent = true;
		this.o.onChange?.(doc);
		this.o.onPending?.(true);
		void this.flush();
		return true;
	}

	/**
	 * Starts the sync protocol afresh: on every new WatchRoom stream (the server's side
	 * starts afresh too) and after reconnecting. Unsent edits are kept and merge then.
	 */
	restart(): Promise<void> {
		this.state = A.initSyncState();
		return this.flush();
	}

	/** Stops syncing. */
	close(): void {
		this.closed = true;
	}

	/**
	 * Sends our messages until neither side has anything more to say. Calls while a
	 * send is running join it (it goes round once more) and resolve when it ends.
	 */
	flush(): Promise<void> {
		if (this.inflight) {
			this.again = true;
			return this.inflight;
		}
		this.inflight = this.run().finally(() => {
			this.inflight = null;
		});
		return this.inflight;
	}

	private async run(): Promise<void> {
		let retry = false;
		try {
			for (let round = 0; round < 100 && !this.closed; round++) {
				const [state, msg] = A.generateSyncMessage(this.doc, this.state);
				this.state = state;
				if (!msg && !this.again) break;
				this.again = false;
				if (!msg) continue;
				const res = await this.o.client.syncRoomState({
					roomId: this.o.roomId,
					peerId: this.o.peerId,
					syncMessage: msg
				});
				if (res.syncMessage.length > 0) {
					const [doc, st] = A.receiveSyncMessage(this.doc, this.state, res.syncMessage);
					this.state = st;
					if (doc !== this.doc) {
						this.doc = doc;
						this.o.onChange?.(doc);
					}
				}
			}
			if (this.unsent) {
				this.unsent = false;
				this.o.onPending?.(false);
			}
		} catch (err) {
			const ce = ConnectError.from(err);
			if (ce.code === Code.InvalidArgument || ce.code === Code.PermissionDenied) {
				// Automerge cannot take a change back: start over from the server's document.
				this.doc = A.init<RoomDoc>();
				this.state = A.initSyncState();
				this.unsent = false;
				this.o.onPending?.(false);
				this.o.onChange?.(this.doc);
				retry = true;
			}
			// Otherwise offline or the server is away: the edits stay; restart() resends them.
			this.o.onError?.(ce);
		}
		if (retry || (this.again && !this.closed)) {
			this.again = false;
			return this.run();
		}
	}
}
