// Run by server/internal/roomdocrpc's TestInteropWithAutomergeJS against its server:
// SENSOCTO_INTEROP_URL, _ROOM, _USER (the user this process acts as, sent in the test
// server's X-Test-User header) and _PHASE (write, then read).
import * as A from '@automerge/automerge';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { describe, expect, it } from 'vitest';
import { RoomService } from '../src/lib/gen/sensocto/v1/room_pb';
import {
	decodePoints,
	encodePoints,
	newPeerId,
	ready,
	RoomSync,
	scalar,
	str
} from '../src/lib/roomdoc/sync';

const url = process.env.SENSOCTO_INTEROP_URL ?? '';
const room = process.env.SENSOCTO_INTEROP_ROOM ?? '';
const user = process.env.SENSOCTO_INTEROP_USER ?? '';
const phase = process.env.SENSOCTO_INTEROP_PHASE ?? '';

function connect(errors: ConnectError[]): RoomSync {
	const transport = createConnectTransport({
		baseUrl: url,
		useBinaryFormat: true,
		interceptors: [
			(next) => (req) => {
				req.header.set('X-Test-User', user);
				return next(req);
			}
		]
	});
	return new RoomSync({
		client: createClient(RoomService, transport),
		roomId: room,
		peerId: newPeerId(),
		onError: (e) => errors.push(e)
	});
}

describe('room document interop with the Go server', () => {
	it('has its environment', () => {
		expect(url).not.toBe('');
		expect(['write', 'read']).toContain(phase);
	});

	it.runIf(phase === 'write')(
		'writes notes, media and a stroke, and is refused a Text where a string belongs',
		async () => {
			const errors: ConnectError[] = [];
			const sync = connect(errors);
			await sync.flush();
			expect(errors).toEqual([]);
			expect(ready(sync.doc)).toBe(true);
			expect(sync.doc.notes).toBe('');

			expect(
				sync.change((d) => {
					A.splice(d, ['notes'], 0, 0, 'Node was here.');
					d.media.controller = scalar(user);
					d.media.source = scalar('/media/clip.webm');
					d.media.playing = true;
					d.media.position = 1.5;
					d.media.refTime = Date.now();
					d.whiteboard.strokes.push({
						id: scalar('node-1'),
						author: scalar(user),
						color: scalar('#ff0000'),
						width: 2,
						points: encodePoints([
							[0.1, 0.2],
							[0.3, 0.4]
						])
					});
				})
			).toBe(true);
			await sync.flush();
			expect(errors).toEqual([]);
			expect(sync.unsent).toBe(false);

			// A plain JS string becomes collaborative Text in Automerge 3: refused for
			// media.source, and the client starts over from the server's document.
			sync.change((d) => {
				(d.media as unknown as { source: string }).source = '/media/other.webm';
			});
			await sync.flush();
			expect(errors.map((e) => e.code)).toEqual([Code.InvalidArgument]);
			expect(errors[0].rawMessage).toContain('media.source: must be a plain (immutable) string');
			expect(str(sync.doc.media.source)).toBe('/media/clip.webm');
			expect(sync.doc.notes).toBe('Node was here.');
		}
	);

	it.runIf(phase === 'read')("reads the Go peer's text and annotation", async () => {
		const errors: ConnectError[] = [];
		const sync = connect(errors);
		await sync.flush();
		expect(errors).toEqual([]);
		expect(sync.doc.notes).toBe('Node was here. Go says hi.');
		expect(str(sync.doc.media.source)).toBe('/media/clip.webm');
		const [stroke] = sync.doc.whiteboard.strokes;
		expect(str(stroke.id)).toBe('node-1');
		expect(decodePoints(stroke.points)[1][0]).toBeCloseTo(0.3, 5);
		const [note] = sync.doc.annotations;
		expect(str(note.text)).toBe('spike');
		expect(str(note.sensorId)).toBe('hr-1');
		expect(note.to - note.from).toBe(60_000);
	});
});
