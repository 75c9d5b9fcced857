import * as A from '@automerge/automerge';
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import type { RoomService } from '../gen/sensocto/v1/room_pb';
import { annotationsFor } from './annotations';
import { decodePoints, encodePoints, newPeerId, RoomSync, scalar, str, type RoomDoc } from './sync';

/**
 * A stand-in for the server's SyncRoomState: one document, one sync state per peer, the
 * skeleton the Go server writes, and a switch to be unreachable or to refuse.
 */
class FakeServer {
	doc: A.Doc<RoomDoc>;
	states = new Map<string, A.SyncState>();
	offline = false;
	refuse = false;

	constructor() {
		this.doc = A.change(A.init<RoomDoc>(), (d) => {
			d.schema = 1;
			d.notes = '';
			d.settings = { locked: {} };
			d.media = {
				source: scalar(''),
				playing: false,
				position: 0,
				refTime: 0,
				rate: 1,
				controller: scalar(''),
				request: scalar('')
			};
			d.viewer = {
				model: scalar('heart'),
				camera: { position: [0, 0, 5], target: [0, 0, 0] },
				controller: scalar(''),
				request: scalar('')
			};
			d.whiteboard = { strokes: [] };
			d.annotations = [];
		});
	}

	/** Sends the server's message for a peer, as WatchRoom's STATE event does. */
	async push(to: RoomSync): Promise<void> {
		const [next, out] = A.generateSyncMessage(
			this.doc,
			this.states.get(to.peerId) ?? A.initSyncState()
		);
		this.states.set(to.peerId, next);
		if (out) await to.receive(out);
	}

	client(): Client<typeof RoomService> {
		return {
			syncRoomState: async (req: { peerId: string; syncMessage: Uint8Array }) => {
				if (this.offline) throw new ConnectError('unreachable', Code.Unavailable);
				let st = this.states.get(req.peerId) ?? A.initSyncState();
				if (req.syncMessage.length > 0) {
					// A refusal keeps the document as it was: apply to a copy then.
					const base = this.refuse ? A.clone(this.doc) : this.doc;
					const [doc, next] = A.receiveSyncMessage(base, st, req.syncMessage);
					if (this.refuse && A.getHeads(doc).join() !== A.getHeads(this.doc).join()) {
						this.states.set(req.peerId, A.initSyncState());
						throw new ConnectError('media.source: must be a plain string', Code.InvalidArgument);
					}
					this.doc = doc;
					st = next;
				}
				const [next, out] = A.generateSyncMessage(this.doc, st);
				this.states.set(req.peerId, next);
				return { syncMessage: out ?? new Uint8Array() };
			}
		} as unknown as Client<typeof RoomService>;
	}
}

function peer(server: FakeServer, errors: ConnectError[] = []): RoomSync {
	return new RoomSync({
		client: server.client(),
		roomId: '00000000-0000-0000-0000-000000000001',
		peerId: newPeerId(),
		onError: (e) => errors.push(e)
	});
}

describe('RoomSync', () => {
	it('waits for the server skeleton before editing', async () => {
		const s = peer(new FakeServer());
		expect(s.change((d) => A.splice(d, ['notes'], 0, 0, 'x'))).toBe(false);
		await s.flush();
		expect(s.change((d) => A.splice(d, ['notes'], 0, 0, 'x'))).toBe(true);
	});

	it('merges two tabs typing at once', async () => {
		const server = new FakeServer();
		const a = peer(server);
		const b = peer(server);
		await a.flush();
		await b.flush();
		a.change((d) => A.splice(d, ['notes'], 0, 0, 'Alice. '));
		b.change((d) => A.splice(d, ['notes'], 0, 0, 'Bob.'));
		await a.flush();
		await b.flush();
		await server.push(a);
		expect(a.doc.notes).toBe(b.doc.notes);
		expect(a.doc.notes).toContain('Alice. ');
		expect(a.doc.notes).toContain('Bob.');
	});

	it('keeps offline edits and merges them on reconnect', async () => {
		const server = new FakeServer();
		const errors: ConnectError[] = [];
		const a = peer(server, errors);
		const b = peer(server);
		await a.flush();
		await b.flush();
		server.offline = true;
		a.change((d) => A.splice(d, ['notes'], 0, 0, 'written offline'));
		await a.flush();
		expect(errors.map((e) => e.code)).toEqual([Code.Unavailable]);
		expect(a.doc.notes).toBe('written offline');
		server.offline = false;
		b.change((d) => A.splice(d, ['notes'], 0, 0, 'meanwhile. '));
		await b.flush();
		await a.restart();
		await server.push(b);
		expect(a.doc.notes).toBe(b.doc.notes);
		expect(a.doc.notes).toContain('written offline');
		expect(a.doc.notes).toContain('meanwhile. ');
		expect(a.unsent).toBe(false);
	});

	it("starts over from the server's document after a refusal", async () => {
		const server = new FakeServer();
		const errors: ConnectError[] = [];
		const a = peer(server, errors);
		await a.flush();
		server.refuse = true;
		a.change((d) => {
			d.media.source = scalar('/forbidden');
		});
		await a.flush();
		server.refuse = false;
		expect(errors.map((e) => e.code)).toEqual([Code.InvalidArgument]);
		expect(str(a.doc.media.source)).toBe('');
	});
});

describe('document helpers', () => {
	it('round-trips stroke points as float32 pairs', () => {
		const pts: [number, number][] = [
			[0.25, 0.5],
			[1, 0]
		];
		const bytes = encodePoints(pts);
		expect(bytes.byteLength).toBe(16);
		expect(decodePoints(bytes)).toEqual(pts);
	});

	it('reads scalar strings and text alike', () => {
		expect(str(scalar('x'))).toBe('x');
		expect(str('y')).toBe('y');
		expect(str(undefined)).toBe('');
	});

	it('picks the annotations of one sensor in time order', () => {
		const doc = {
			annotations: [
				{ id: 'b', author: 'u', sensorId: 'hr', from: 20, to: 30, text: 'late' },
				{ id: 'a', author: 'u', sensorId: 'hr', attributeId: 'ecg', from: 10, to: 15, text: 'ecg' },
				{ id: 'c', author: 'u', sensorId: 'other', from: 0, to: 1, text: 'no' }
			]
		} as unknown as RoomDoc;
		expect(annotationsFor(doc, 'hr').map((m) => m.id)).toEqual(['a', 'b']);
		expect(annotationsFor(doc, 'hr', 'heart_rate').map((m) => m.id)).toEqual(['b']);
	});
});
