// End-to-end: rooms between two people in two browser contexts. The owner creates a room
// and adds a sensor of their own simulation run (private: only the room makes it visible);
// the second user follows the invite link and joins; each sees the other present within
// a second; the second sees the sensor's live data; the owner removes them, and their room
// page says so while the data stops. The invite's QR code decodes (jsQR, a maintained
// decoder) to the join link; a replaced code gets a clear refusal. Screenshots at desktop
// and phone size, light and dark.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import jsQR from 'jsqr';
import { artifactsDir, launchBrowser, rpcAs, startServer, waitFor } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	server = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1000' } });
	browser = await launchBrowser();
	await mkdir(artifactsDir, { recursive: true });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * A signed-in guest named name in a fresh context, with a page that records noise:
 * uncaught errors and console errors.
 */
async function user(name, viewport = { width: 1440, height: 900 }) {
	const context = await browser.newContext({ viewport, colorScheme: 'light' });
	const res = await context.request.post(`${server.url}/sensocto.v1.AuthService/SignInGuest`, {
		headers: { 'Content-Type': 'application/json' },
		data: { displayName: name }
	});
	assert.ok(res.ok(), `SignInGuest: ${res.status()}`);
	const { user: me } = await res.json();
	const page = await context.newPage();
	/** @type {string[]} */
	const noise = [];
	page.on('pageerror', (e) => noise.push(`pageerror: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error') noise.push(`console: ${m.text()}`);
	});
	return { context, page, noise, id: me.userId, rpc: rpcAs(context, server.url) };
}

async function shots(page, name) {
	for (const dark of [false, true]) {
		await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
		await page.screenshot({ path: join(artifactsDir, `${name}-${dark ? 'dark' : 'light'}.png`) });
	}
	await page.emulateMedia({ colorScheme: 'light' });
}

async function failing(pages, name, fn) {
	try {
		await fn();
	} catch (err) {
		for (const [i, p] of pages.entries())
			await p.screenshot({ path: join(artifactsDir, `${name}-${i}-failure.png`), fullPage: true });
		console.error(server.logs().slice(-4000));
		throw err;
	}
}

/**
 * Records in page the browser time (ms) at which selector first matches, as
 * window.__seen[key]; resolves at once (the page keeps watching).
 */
async function recordWhen(page, key, selector) {
	await page.evaluate(
		({ key, selector }) => {
			const w = /** @type {any} */ (window);
			w.__seen ??= {};
			const check = () => {
				if (w.__seen[key] === undefined && document.querySelector(selector)) {
					w.__seen[key] = Date.now();
					return true;
				}
				return w.__seen[key] !== undefined;
			};
			if (check()) return;
			const o = new MutationObserver(() => {
				if (check()) o.disconnect();
			});
			o.observe(document.documentElement, { subtree: true, childList: true, attributes: true });
		},
		{ key, selector }
	);
}

const seen = (page, key) =>
	waitFor(() => page.evaluate((k) => /** @type {any} */ (window).__seen?.[k], key), {
		what: key,
		timeoutMs: 20_000,
		intervalMs: 50
	});

/** The QR code in page, drawn onto a canvas and decoded in Node with jsQR. */
async function decodeQr(page) {
	const { width, height, data } = await page
		.getByTestId('invite-qr')
		.evaluate(async (/** @type {HTMLImageElement} */ img) => {
			await img.decode();
			const size = 400;
			const c = document.createElement('canvas');
			c.width = c.height = size;
			const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
			ctx.fillStyle = '#fff';
			ctx.fillRect(0, 0, size, size);
			ctx.drawImage(img, 20, 20, size - 40, size - 40);
			const d = ctx.getImageData(0, 0, size, size);
			return { width: d.width, height: d.height, data: Array.from(d.data) };
		});
	return jsQR(Uint8ClampedArray.from(data), width, height)?.data;
}

test('two users: invite link and QR, presence within a second, live data, removal ends it', async () => {
	const owner = await user('Owner Ada');
	const member = await user('Member Bo');
	await failing([owner.page, member.page], 'rooms', async () => {
		// The owner's own simulation run: private sensors nobody else may see.
		await owner.rpc('SimulatorService/StartScenario', { name: 'single_person' });
		const sensor = await waitFor(
			async () => {
				const { sensors = [] } = await owner.rpc('SensorService/ListSensors', {});
				return sensors.find(
					(s) =>
						s.ownerId === owner.id &&
						(s.attributes ?? []).some((a) => a.attributeId === 'heartrate')
				);
			},
			{ what: "a heart-rate sensor of the owner's run" }
		);
		const { sensors: seenByMember = [] } = await member.rpc('SensorService/ListSensors', {});
		assert.ok(
			!seenByMember.some((s) => s.sensorId === sensor.sensorId),
			'the run is private before the room'
		);

		// The owner creates the room and adds the sensor.
		await owner.page.goto(server.url + '/rooms');
		await owner.page.getByTestId('mine-rooms-empty').waitFor();
		await owner.page.getByTestId('new-room-name').fill('E2E study group');
		await owner.page.getByTestId('create-room').click();
		await owner.page.waitForURL(/\/rooms\/[0-9a-f-]{36}$/);
		const roomId = new URL(owner.page.url()).pathname.split('/').pop();
		await owner.page.getByTestId('room-name').waitFor();
		assert.equal((await owner.page.getByTestId('my-role').textContent())?.trim(), 'Owner');
		await owner.page.getByTestId('room-empty').waitFor();
		await owner.page.locator('[data-testid="room-sensors"] summary').click();
		const select = owner.page.getByTestId('add-sensor-select');
		await waitFor(
			async () => (await select.locator(`option[value="${sensor.sensorId}"]`).count()) === 1,
			{ what: 'the sensor among those to add' }
		);
		await select.selectOption(sensor.sensorId);
		await owner.page.getByTestId('add-sensor').click();
		const ownerTile = owner.page.locator(
			`[data-testid="sensor-tile"][data-sensor-id="${sensor.sensorId}"]`
		);
		await ownerTile.waitFor({ timeout: 15_000 });

		// The invite: the link, and its QR code decodes to exactly that link.
		const link = (await owner.page.getByTestId('join-link').textContent())?.trim() ?? '';
		const code = (await owner.page.getByTestId('join-code').textContent())?.trim() ?? '';
		assert.match(code, /^[A-HJ-NP-Z2-9]{8}$/);
		assert.equal(link, `${server.url}/join/${code}`);
		assert.equal(await decodeQr(owner.page), link);
		await shots(owner.page, 'room-owner');

		// The second user follows the link: a preview, then Join.
		const memberRow = `[data-testid="member"][data-user-id="${member.id}"][data-present="true"]`;
		const ownerRow = `[data-testid="member"][data-user-id="${owner.id}"][data-present="true"]`;
		await recordWhen(owner.page, 'memberHere', memberRow);
		await member.page.goto(link);
		await member.page.getByTestId('preview-name').waitFor();
		assert.equal(
			(await member.page.getByTestId('preview-name').textContent())?.trim(),
			'E2E study group'
		);
		// The member's room page is open once it lists the members (the stream's first state).
		await recordWhen(member.page, 'inRoom', '[data-testid="member-list"]');
		await recordWhen(member.page, 'ownerHere', ownerRow);
		await member.page.getByTestId('join-room').click();
		await member.page.waitForURL(`${server.url}/rooms/${roomId}`);
		assert.equal((await member.page.getByTestId('my-role').textContent())?.trim(), 'Member');

		// Both see each other present within a second of the member's room opening.
		const inRoom = await seen(member.page, 'inRoom');
		const ownerHere = await seen(member.page, 'ownerHere');
		const memberHere = await seen(owner.page, 'memberHere');
		assert.ok(ownerHere - inRoom < 1000, `the member saw the owner after ${ownerHere - inRoom} ms`);
		assert.ok(
			memberHere - inRoom < 1000,
			`the owner saw the member after ${memberHere - inRoom} ms`
		);
		// Which view each one has open: the room's sensors.
		assert.match(
			(await owner.page.locator(memberRow).getByTestId('member-presence').textContent()) ?? '',
			/Here now/
		);

		// The member sees the sensor's live data: a value, then a newer one.
		const tile = member.page.locator(
			`[data-testid="sensor-tile"][data-sensor-id="${sensor.sensorId}"]`
		);
		const hr = tile.locator('[data-testid="attr-value"][data-attribute="heartrate"]');
		const first = await waitFor(
			async () => {
				const t = (await hr.textContent())?.trim() ?? '';
				return /\d/.test(t) && t;
			},
			{ what: "the sensor's heart rate on the member's page" }
		);
		const ecg = tile.locator('[data-testid="attr-value"][data-attribute="ecg"]');
		const ecgFirst = await ecg.textContent();
		await waitFor(
			async () => (await ecg.textContent()) !== ecgFirst || (await hr.textContent()) !== first,
			{
				what: 'a newer value'
			}
		);
		// A lens shows the room's sensors too, and presence follows the view.
		await member.page.getByTestId('lens-tabs').getByRole('link', { name: 'ECG' }).click();
		await member.page.waitForURL(`${server.url}/rooms/${roomId}/ecg`);
		await member.page.getByTestId('panel-name').first().waitFor();
		await waitFor(
			async () =>
				/ECG/.test(
					(await owner.page.locator(memberRow).getByTestId('member-presence').textContent()) ?? ''
				),
			{ what: "the member's view (ECG) on the owner's page", timeoutMs: 5000 }
		);
		await member.page.getByTestId('lens-tabs').getByRole('link', { name: 'All sensors' }).click();
		await tile.waitFor();
		await shots(member.page, 'room-member');

		// The owner removes the member: their page says so, the tiles go, the data stops.
		await recordWhen(member.page, 'removed', '[data-testid="room-closed"][data-reason="removed"]');
		const row = owner.page.locator(`[data-testid="member"][data-user-id="${member.id}"]`);
		await row.getByTestId('remove-member').click();
		await row.getByTestId('remove-member-confirm').click();
		const removedAt = Date.now();
		await seen(member.page, 'removed');
		assert.equal(await member.page.getByTestId('sensor-tile').count(), 0);
		assert.match(
			(await member.page.getByTestId('room-closed').textContent()) ?? '',
			/removed from this room/
		);
		await waitFor(async () => (await row.count()) === 0, { what: 'the member gone from the list' });
		// The server agrees: the sensor is no longer the member's to watch.
		await assert.rejects(
			member.rpc('SensorService/GetHistory', {
				sensorId: sensor.sensorId,
				attributeId: 'heartrate',
				fromUs: String((removedAt - 60_000) * 1000),
				toUs: String(removedAt * 1000 + 60_000_000)
			}),
			/404|403/
		);
		await shots(member.page, 'room-removed');
		assert.deepEqual(owner.noise, []);
		assert.deepEqual(member.noise, []);
	});
	await owner.context.close();
	await member.context.close();
});

test('a replaced code is refused with a clear reason; rooms on a phone', async () => {
	const owner = await user('Owner Cy', { width: 390, height: 844 });
	const other = await user('Other Di', { width: 390, height: 844 });
	await failing([owner.page, other.page], 'rooms-code', async () => {
		const { room } = await owner.rpc('RoomService/CreateRoom', { name: 'Phone room' });
		await owner.page.goto(`${server.url}/rooms/${room.roomId}`);
		const code = owner.page.getByTestId('join-code');
		await code.waitFor();
		const old = (await code.textContent())?.trim();
		await shots(owner.page, 'room-phone');
		await owner.page.getByTestId('regenerate-code').click();
		await owner.page.getByTestId('regenerate-code-confirm').click();
		await waitFor(async () => (await code.textContent())?.trim() !== old, { what: 'a new code' });
		const fresh = (await code.textContent())?.trim();
		assert.equal(await decodeQr(owner.page), `${server.url}/join/${fresh}`);

		// The old code: refused at once, with a reason and a way on.
		await other.page.goto(`${server.url}/join/${old}`);
		await other.page.getByTestId('join-error').waitFor();
		assert.match(
			(await other.page.getByTestId('join-error').textContent()) ?? '',
			/expired or been replaced/
		);
		// The rooms page: typing the new code in lower case leads to the preview.
		await other.page.goto(server.url + '/rooms');
		await other.page.getByTestId('join-code-input').fill(String(fresh).toLowerCase());
		await other.page.getByTestId('join-by-code').click();
		await other.page.getByTestId('preview-name').waitFor();
		await shots(other.page, 'room-join-phone');
		await other.page.getByTestId('join-room').click();
		await other.page.waitForURL(`${server.url}/rooms/${room.roomId}`);
		// A member leaves after confirming, and is back on the rooms list.
		await other.page.locator('[data-testid="room-settings"] summary').click();
		await other.page.getByTestId('leave-room').click();
		await other.page.getByTestId('leave-room-confirm').click();
		await other.page.waitForURL(`${server.url}/rooms`);
		await other.page.getByTestId('mine-rooms-empty').waitFor();
		// The owner deletes the room after confirming.
		await owner.page.locator('[data-testid="room-settings"] summary').click();
		await owner.page.getByTestId('delete-room').click();
		await owner.page.getByTestId('delete-room-confirm').click();
		await owner.page.waitForURL(`${server.url}/rooms`);
		await owner.page.getByTestId('mine-rooms-empty').waitFor();
		assert.deepEqual(owner.noise, []);
		// The replaced code's preview was refused (404, as the page explained): nothing else.
		assert.deepEqual(
			other.noise.filter((n) => !/status of 404/.test(n)),
			[]
		);
	});
	await owner.context.close();
	await other.context.close();
});

test('shared notes: two members type at once and end with the same text', async () => {
	const owner = await user('Notes Owner');
	const member = await user('Notes Member');
	await failing([owner.page, member.page], 'room-notes', async () => {
		const { room } = await owner.rpc('RoomService/CreateRoom', { name: 'E2E notes' });
		await member.rpc('RoomService/JoinRoom', { joinCode: room.joinCode });
		const notes = [owner, member].map((u) => u.page.getByTestId('room-notes'));
		for (const u of [owner, member]) await u.page.goto(`${server.url}/rooms/${room.roomId}`);
		// Writable once the first sync brought the document.
		for (const n of notes)
			await waitFor(async () => (await n.getAttribute('readonly')) === null, {
				what: 'the notes ready for typing'
			});
		// Both type at the same time, each at the end of what it sees.
		await Promise.all([
			notes[0].pressSequentially('Ada was here. ', { delay: 15 }),
			notes[1].pressSequentially('Bo too. ', { delay: 15 })
		]);
		const same = await waitFor(
			async () => {
				const [a, b] = await Promise.all(notes.map((n) => n.inputValue()));
				return a === b && a.includes('Ada was here.') && a.includes('Bo too.') ? a : undefined;
			},
			{ what: 'both notes with both texts, equal' }
		);
		assert.ok(same.length >= 'Ada was here. Bo too. '.length);
		assert.deepEqual([...owner.noise, ...member.noise], []);
		await shots(member.page, 'room-notes');
	});
	await owner.context.close();
	await member.context.close();
});

/** A WAV file of `seconds` of silence (8 kHz, 8-bit mono PCM: Chromium plays it in a <video>). */
function silentWav(seconds) {
	const rate = 8000;
	const n = rate * seconds;
	const b = Buffer.alloc(44 + n, 0x80);
	b.write('RIFF', 0);
	b.writeUInt32LE(36 + n, 4);
	b.write('WAVEfmt ', 8);
	b.writeUInt32LE(16, 16);
	b.writeUInt16LE(1, 20); // PCM
	b.writeUInt16LE(1, 22); // mono
	b.writeUInt32LE(rate, 24);
	b.writeUInt32LE(rate, 28); // bytes per second
	b.writeUInt16LE(1, 32); // block align
	b.writeUInt16LE(8, 34); // bits per sample
	b.write('data', 36);
	b.writeUInt32LE(n, 40);
	return b;
}

/** Serves body at /clip.wav on a free local port, with byte ranges (for seeking). */
async function serveClip(body) {
	const srv = createHttpServer((req, res) => {
		if (req.url !== '/clip.wav') {
			res.writeHead(404).end();
			return;
		}
		const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
		let start = 0;
		let end = body.length - 1;
		if (m) {
			if (m[1]) start = Number(m[1]);
			if (m[2]) end = Math.min(end, Number(m[2]));
		}
		res.writeHead(m ? 206 : 200, {
			'Content-Type': 'audio/wav',
			'Accept-Ranges': 'bytes',
			'Content-Length': String(end - start + 1),
			...(m ? { 'Content-Range': `bytes ${start}-${end}/${body.length}` } : {})
		});
		res.end(body.subarray(start, end + 1));
	});
	await new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(undefined)));
	const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
	return { url: `http://127.0.0.1:${port}/clip.wav`, close: () => srv.close() };
}

/**
 * The follower's player against the room's reference, read at one instant in the page:
 * where the player is and where the reference says it should be.
 */
const playerVsReference = (page) =>
	page.getByTestId('media-video').evaluate((/** @type {HTMLVideoElement} */ v) => {
		const d = v.dataset;
		const playing = d.playing === 'true';
		const position = Number(d.position);
		const elapsed = playing ? ((Date.now() - Number(d.refTime)) / 1000) * Number(d.rate) : 0;
		return {
			current: v.currentTime,
			expected: position + elapsed,
			position,
			playing,
			paused: v.paused,
			ready: v.readyState
		};
	});

/** Network failures while the server is down are expected noise. */
const offlineNoise = (n) =>
	/ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|Failed to fetch|status of 50\d/.test(n);

test('shared room state: a stroke, a media seek, a hand-off, a restart and an offline edit, each seen in the other browser', async () => {
	const owner = await user('Board Ada');
	const member = await user('Board Bo');
	const clip = await serveClip(silentWav(30));
	await failing([owner.page, member.page], 'room-shared', async () => {
		// A room with the shared features and a live sensor of the owner's.
		await owner.rpc('SimulatorService/StartScenario', { name: 'single_person' });
		const sensor = await waitFor(
			async () => {
				const { sensors = [] } = await owner.rpc('SensorService/ListSensors', {});
				return sensors.find(
					(s) =>
						s.ownerId === owner.id &&
						(s.attributes ?? []).some((a) => a.attributeId === 'heartrate')
				);
			},
			{ what: "a heart-rate sensor of the owner's run" }
		);
		const { room } = await owner.rpc('RoomService/CreateRoom', {
			name: 'E2E shared state',
			features: { mediaPlayback: true, object3d: true, whiteboard: true }
		});
		await owner.rpc('RoomService/AddRoomSensor', {
			roomId: room.roomId,
			sensorId: sensor.sensorId
		});
		await member.rpc('RoomService/JoinRoom', { joinCode: room.joinCode });
		for (const u of [owner, member]) await u.page.goto(`${server.url}/rooms/${room.roomId}`);
		for (const u of [owner, member])
			await waitFor(
				async () => (await u.page.getByTestId('room-notes').getAttribute('readonly')) === null,
				{
					what: 'the document synced'
				}
			);

		// 1. A stroke drawn with the mouse on the owner's board appears on the member's.
		const board = owner.page.getByTestId('whiteboard');
		await board.scrollIntoViewIfNeeded();
		const box = /** @type {{ x: number, y: number, width: number, height: number }} */ (
			await board.boundingBox()
		);
		await owner.page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
		await owner.page.mouse.down();
		for (let i = 1; i <= 10; i++)
			await owner.page.mouse.move(
				box.x + box.width * (0.2 + i * 0.05),
				box.y + box.height * (0.3 + i * 0.03)
			);
		await owner.page.mouse.up();
		await waitFor(
			async () =>
				/^1 strokes?/.test((await member.page.getByTestId('whiteboard-count').textContent()) ?? ''),
			{
				what: "the stroke in the member's document"
			}
		);
		const inked = await waitFor(
			() =>
				member.page.getByTestId('whiteboard').evaluate((/** @type {HTMLCanvasElement} */ c) => {
					const d = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).getImageData(
						0,
						0,
						c.width,
						c.height
					).data;
					let n = 0;
					for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
					return n > 200 ? n : 0;
				}),
			{ what: "the stroke's pixels on the member's canvas" }
		);
		assert.ok(inked > 200, `member canvas has ${inked} inked pixels`);

		// 2. The owner takes the player, loads a clip and seeks: the member's player follows
		// to within 250 ms of the reference, paused and then playing.
		const ownerMedia = owner.page.getByTestId('media-control');
		await ownerMedia.getByRole('button', { name: 'Take control' }).click();
		await owner.page.getByTestId('media-url').fill(clip.url);
		await owner.page.getByRole('button', { name: 'Load' }).click();
		const ownerVideo = owner.page.getByTestId('media-video');
		await waitFor(
			() => ownerVideo.evaluate((/** @type {HTMLVideoElement} */ v) => v.readyState >= 1),
			{
				what: "the owner's player loaded the clip"
			}
		);
		await member.page.getByTestId('media-video').waitFor();
		await owner.page.getByRole('button', { name: '+10 s' }).click();
		const paused = await waitFor(
			async () => {
				const p = await playerVsReference(member.page);
				return Math.abs(p.position - 10) < 0.5 && Math.abs(p.current - p.expected) <= 0.25
					? p
					: undefined;
			},
			{ what: "the member's player at the owner's seek", intervalMs: 50 }
		);
		assert.ok(paused.paused && !paused.playing, 'the player stays paused after the seek');
		await ownerVideo.evaluate((/** @type {HTMLVideoElement} */ v) => v.play());
		const playing = await waitFor(
			async () => {
				const p = await playerVsReference(member.page);
				return p.playing && !p.paused && p.current > 10 && Math.abs(p.current - p.expected) <= 0.25
					? p
					: undefined;
			},
			{ what: "the member's player playing with the reference", intervalMs: 50 }
		);
		assert.ok(Math.abs(playing.current - playing.expected) <= 0.25, JSON.stringify(playing));

		// 3. Hand-off: the member asks, the owner grants; both see the member in control.
		const memberMedia = member.page.getByTestId('media-control');
		await memberMedia.getByRole('button', { name: 'Request control' }).click();
		await owner.page.getByTestId('media-request').waitFor();
		await ownerMedia.getByRole('button', { name: 'Grant' }).click();
		await waitFor(
			async () =>
				/You have control/.test(
					(await member.page.getByTestId('media-controller').textContent()) ?? ''
				),
			{
				what: 'the member in control, on their page'
			}
		);
		await waitFor(
			async () =>
				/Board Bo has control/.test(
					(await owner.page.getByTestId('media-controller').textContent()) ?? ''
				),
			{
				what: "the member in control, on the owner's page"
			}
		);
		// The timeout path: a request for the 3D viewer nobody answers wins after 10 s.
		await owner.page
			.getByTestId('viewer-control')
			.getByRole('button', { name: 'Take control' })
			.click();
		await waitFor(
			async () =>
				/Board Ada has control/.test(
					(await member.page.getByTestId('viewer-controller').textContent()) ?? ''
				),
			{
				what: 'the owner in control of the viewer'
			}
		);
		await member.page
			.getByTestId('viewer-control')
			.getByRole('button', { name: 'Request control' })
			.click();
		await waitFor(
			async () =>
				/Board Bo has control/.test(
					(await owner.page.getByTestId('viewer-controller').textContent()) ?? ''
				),
			{
				what: 'the unanswered request winning after the timeout',
				timeoutMs: 40_000
			}
		);

		// 4. An annotation the member pins shows as a mark on the owner's sensor charts.
		await member.page.getByRole('textbox', { name: 'Annotation' }).fill('Spike here');
		await member.page.getByRole('button', { name: 'Pin', exact: true }).click();
		// (Charts draw while on screen only.)
		await owner.page.getByTestId('tile-chart').first().scrollIntoViewIfNeeded();
		const marks = owner.page.locator('[data-testid="chart-marks"]:not([data-count="0"])');
		await waitFor(async () => (await marks.count()) > 0, {
			what: "a mark on the owner's sensor chart"
		});

		// 5. A restart between edits: what was acknowledged before is there after, and an
		// edit made while the server was down merges once it is back.
		const notes = [owner, member].map((u) => u.page.getByTestId('room-notes'));
		await notes[0].pressSequentially('Before the restart. ', { delay: 10 });
		await waitFor(async () => (await owner.page.getByTestId('room-doc-pending').count()) === 0, {
			what: "the owner's notes acknowledged"
		});
		await server.kill();
		await notes[1].press('End');
		await notes[1].pressSequentially('Written offline. ', { delay: 10 });
		await member.page.getByTestId('room-doc-pending').waitFor();
		await server.restart();
		const both = await waitFor(
			async () => {
				const [a, b] = await Promise.all(notes.map((n) => n.inputValue()));
				return a === b && a.includes('Before the restart.') && a.includes('Written offline.')
					? a
					: undefined;
			},
			{ what: 'both notes with both texts after the restart', timeoutMs: 60_000 }
		);
		assert.ok(both.length >= 'Before the restart. Written offline. '.length);
		await waitFor(async () => (await member.page.getByTestId('room-doc-pending').count()) === 0, {
			what: "the member's offline edit acknowledged"
		});
		assert.match(
			(await owner.page.getByTestId('whiteboard-count').textContent()) ?? '',
			/^1 stroke/
		);
		await shots(owner.page, 'room-shared');
		assert.deepEqual(
			[...owner.noise, ...member.noise].filter((n) => !offlineNoise(n)),
			[]
		);
	});
	clip.close();
	await owner.context.close();
	await member.context.close();
});
