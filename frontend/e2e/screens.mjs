// Screenshots of every page for a look by eye: desktop (1920×1080) and phone (390×844),
// light and dark, on a server running the single_person demo, as a guest with a run of
// its own and a room holding one of its sensors. Not a test (node --test skips it):
//
//   node e2e/screens.mjs            → e2e/artifacts/screens/<page>-<size>-<theme>.png
//
// Uses the same SENSOCTO_BIN / SENSOCTO_E2E_URL / CHROMIUM_PATH as the tests.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
	artifactsDir,
	launchBrowser,
	rpcAs,
	signInAsGuest,
	startServer,
	waitFor
} from './server.mjs';

const out = join(artifactsDir, 'screens');
await mkdir(out, { recursive: true });
const server = await startServer({
	env: { SENSOCTO_DEMO_SCENARIO: 'single_person', SENSOCTO_AUTH_RATE_LIMIT: '1000' }
});
const browser = await launchBrowser();
try {
	const sizes = {
		desktop: { width: 1920, height: 1080 },
		phone: { width: 390, height: 844 }
	};
	// Signed out: the sign-in page.
	for (const [size, viewport] of Object.entries(sizes)) {
		const context = await browser.newContext({ viewport });
		const page = await context.newPage();
		await page.goto(server.url + '/signin');
		await page.getByRole('button', { name: 'Continue as guest' }).waitFor();
		await shots(page, `signin-${size}`);
		await context.close();
	}

	const context = await browser.newContext({ viewport: sizes.desktop });
	await signInAsGuest(context, server.url);
	const rpc = rpcAs(context, server.url);
	await rpc('SimulatorService/StartScenario', { name: 'single_person' });
	const { user } = await rpc('AuthService/GetMe', {});
	const sensor = await waitFor(async () => {
		const { sensors = [] } = await rpc('SensorService/ListSensors', {});
		return sensors.find((s) => s.ownerId === user.userId);
	});
	let roomId = '';
	try {
		const { room } = await rpc('RoomService/CreateRoom', {
			name: 'Tuesday breathing group',
			description: 'We breathe together and watch our heart rates.'
		});
		roomId = room.roomId;
		await rpc('RoomService/AddRoomSensor', { roomId, sensorId: sensor.sensorId });
	} catch (err) {
		console.error(`no room: ${err}`);
	}
	const pages = {
		lobby: '/lobby',
		ecg: '/lobby/ecg',
		location: '/lobby/location',
		rooms: '/rooms',
		...(roomId ? { room: `/rooms/${roomId}`, 'room-ecg': `/rooms/${roomId}/ecg` } : {}),
		simulator: '/simulator',
		sense: '/sense',
		system: '/system',
		settings: '/settings',
		sensor: `/sensors/${sensor.sensorId}`
	};
	const page = await context.newPage();
	page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
	for (const [size, viewport] of Object.entries(sizes)) {
		await page.setViewportSize(viewport);
		for (const [name, path] of Object.entries(pages)) {
			await page.goto(server.url + path);
			await page.waitForTimeout(2500);
			await shots(page, `${name}-${size}`);
		}
	}
	await context.close();
	console.log(`screenshots in ${out}`);
} finally {
	await browser.close();
	await server.stop();
}

/** Saves the page light and dark. */
async function shots(page, name) {
	for (const theme of ['light', 'dark']) {
		await page.emulateMedia({ colorScheme: theme });
		await page.waitForTimeout(150);
		await page.screenshot({ path: join(out, `${name}-${theme}.png`) });
	}
}
