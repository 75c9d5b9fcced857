// End-to-end: rooms between two people in two browser contexts. The owner creates a room
// and adds a sensor of their own simulation run (private: only the room makes it visible);
// the second user follows the invite link and joins; each sees the other present within
// a second; the second sees the sensor's live data; the owner removes them, and their room
// page says so while the data stops. The invite's QR code decodes (jsQR, a maintained
// decoder) to the join link; a replaced code gets a clear refusal. Screenshots at desktop
// and phone size, light and dark.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
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
