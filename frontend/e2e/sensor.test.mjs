// End-to-end: the sensor page's owner controls. The owner (a guest who registered a
// sensor through the API) turns recording on, publishes, reloads and finds it still on,
// and downloads the recorded data as CSV (Playwright's download event); another user who
// may see the sensor gets neither the toggle nor the download.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import {
	artifactsDir,
	launchBrowser,
	signInAsGuest,
	startServer,
	waitFor,
	rpcAs
} from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	server = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1000' } });
	browser = await launchBrowser();
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/** A signed-in guest: its context, a page and a JSON RPC caller with its cookie. */
async function guest() {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	const rpc = rpcAs(context, server.url);
	return { context, page, errors, rpc };
}

test('the owner records, the toggle survives a reload, the CSV holds the data; others see neither', async () => {
	const owner = await guest();
	const other = await guest();
	const id = 'e2e-rec-1';
	try {
		await owner.rpc('SensorService/RegisterSensor', {
			sensorId: id,
			name: 'Recorded strap',
			sensorType: 'wearable',
			visibility: 'VISIBILITY_PUBLIC',
			attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
		});
		const { page } = owner;
		await page.goto(`${server.url}/sensors/${id}`);
		const toggle = page.getByTestId('recording-toggle');
		await toggle.waitFor();
		assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
		await toggle.click();
		await waitFor(async () => (await toggle.getAttribute('aria-pressed')) === 'true', {
			what: 'recording on'
		});

		// Data while recording: 20 heart rates over the last 20 s.
		const now = Date.now() * 1000;
		const values = Array.from({ length: 20 }, (_, i) => 60 + i);
		await owner.rpc('SensorService/Publish', {
			sensorId: id,
			measurements: values.map((v, i) => ({
				attributeId: 'heartrate',
				timeUs: String(now - (19 - i) * 1_000_000),
				number: v
			}))
		});
		const sensor = (await owner.rpc('SensorService/GetSensor', { sensorId: id })).sensor;
		assert.equal(sensor.recording, true, 'the server has recording on');

		await page.reload();
		await toggle.waitFor();
		assert.equal(await toggle.getAttribute('aria-pressed'), 'true', 'still on after a reload');
		assert.match((await toggle.textContent()) ?? '', /Recording/);

		// Load the last 5 minutes, then download them; the recorder writes asynchronously, so
		// reload the range until the CSV has every row.
		await page.getByLabel('Last 5 min').check();
		const link = page.getByTestId('csv-download');
		let csv = '';
		await waitFor(
			async () => {
				await page.getByTestId('history-load').click();
				await link.waitFor();
				const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
				assert.match(download.suggestedFilename(), /\.csv$/);
				csv = await readFile(await download.path(), 'utf8');
				return csv.trim().split('\n').length >= 1 + values.length;
			},
			{ timeoutMs: 20_000, intervalMs: 500, what: `a CSV with ${values.length} rows` }
		);
		const [header, ...rows] = csv.trim().split('\n');
		assert.equal(header, 'time_iso8601,time_us,server_time_us,sensor_id,attribute_id,value');
		assert.equal(rows.length, values.length);
		const cols = rows.map((r) => r.split(','));
		assert.ok(cols.every((c) => c[3] === id && c[4] === 'heartrate'));
		assert.deepEqual(
			cols.map((c) => Number(c[5])),
			values
		);
		await page.screenshot({ path: join(artifactsDir, 'sensor-owner.png'), fullPage: true });

		// Someone else who may see the sensor: no toggle, no download; recording is shown.
		await other.page.goto(`${server.url}/sensors/${id}`);
		await other.page.getByTestId('sensor-name').waitFor();
		await other.page.getByText('● Recording').waitFor();
		await other.page.getByTestId('history-summary').waitFor({ timeout: 15_000 });
		assert.equal(await other.page.getByTestId('recording-toggle').count(), 0);
		assert.equal(await other.page.getByTestId('csv-download').count(), 0);

		// Off again, and off after a reload.
		await toggle.click();
		await waitFor(async () => (await toggle.getAttribute('aria-pressed')) === 'false', {
			what: 'recording off'
		});
		await page.reload();
		await toggle.waitFor();
		assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
		assert.deepEqual(owner.errors, []);
		assert.deepEqual(other.errors, []);
	} catch (err) {
		await owner.page.screenshot({ path: join(artifactsDir, 'sensor-owner-failure.png') });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await owner.context.close();
		await other.context.close();
	}
});

/** Publishes heart rates stamped over the last n seconds (the newest now). */
async function publishRecent(rpc, id, n) {
	const now = Date.now() * 1000;
	await rpc('SensorService/Publish', {
		sensorId: id,
		measurements: Array.from({ length: n }, (_, i) => ({
			attributeId: 'heartrate',
			timeUs: String(now - (n - 1 - i) * 200_000),
			number: 70 + i
		}))
	});
}

const points = async (page) =>
	Number(
		/^(\d+) points/.exec((await page.getByTestId('history-summary').textContent()) ?? '')?.[1]
	);

test('a custom range ending now includes the last seconds', async () => {
	const owner = await guest();
	const id = 'e2e-custom-now';
	const { page } = owner;
	try {
		await owner.rpc('SensorService/RegisterSensor', {
			sensorId: id,
			name: 'Custom now strap',
			sensorType: 'wearable',
			attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
		});
		await page.goto(`${server.url}/sensors/${id}`);
		await page.getByTestId('history-summary').waitFor();
		await page.getByRole('radio', { name: 'Custom' }).check();
		// Values stamped after the page was opened and the range chosen: a range that ends
		// at a whole minute (or at the moment the page opened) leaves them out.
		await page.waitForTimeout(1100);
		await publishRecent(owner.rpc, id, 5);
		await page.getByTestId('history-load').click();
		await waitFor(
			async () =>
				(await page.getByTestId('history-summary').getAttribute('data-loaded')) ===
					'heartrate custom' && (await points(page)) === 5,
			{ timeoutMs: 10_000, what: 'the custom range to hold the 5 values just published' }
		);
		assert.equal(await page.getByTestId('history-chart').getAttribute('data-points'), '5');
		await page.screenshot({ path: join(artifactsDir, 'sensor-custom-now.png'), fullPage: true });
		assert.deepEqual(owner.errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'sensor-custom-failure.png') });
		throw err;
	} finally {
		await owner.context.close();
	}
});

test('an unrecorded sensor says so, offers its owner to record, and an empty range names where data is', async () => {
	const owner = await guest();
	const other = await guest();
	const id = 'e2e-unrecorded';
	const { page } = owner;
	try {
		await owner.rpc('SensorService/RegisterSensor', {
			sensorId: id,
			name: 'Unrecorded strap',
			sensorType: 'wearable',
			visibility: 'VISIBILITY_PUBLIC',
			attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
		});
		await publishRecent(owner.rpc, id, 10);
		await page.goto(`${server.url}/sensors/${id}`);
		const note = page.getByTestId('not-recorded');
		await note.waitFor();
		assert.match((await note.textContent()) ?? '', /Not recorded/);
		await waitFor(async () => /data from .+ to .+/.test((await note.textContent()) ?? ''), {
			what: 'the note to say where the in-memory data lies'
		});
		// Last 24 h: the data is a sliver, and the page says so.
		await page.getByRole('radio', { name: 'Last 24 h' }).check();
		await page.getByTestId('history-sliver').waitFor();
		assert.match(
			(await page.getByTestId('history-data-span').textContent()) ?? '',
			/data from .+ to .+/
		);
		await page.screenshot({ path: join(artifactsDir, 'sensor-unrecorded.png'), fullPage: true });

		// A range with no data: an empty state naming where data is, not an empty chart.
		await page.getByRole('radio', { name: 'Custom' }).check();
		await page.getByTestId('history-to-now').uncheck();
		const day = new Date(Date.now() - 2 * 86400_000);
		const p = (n) => String(n).padStart(2, '0');
		const d = `${day.getFullYear()}-${p(day.getMonth() + 1)}-${p(day.getDate())}`;
		await page.getByTestId('history-from').fill(`${d}T10:00:00`);
		await page.getByTestId('history-to').fill(`${d}T11:00:00`);
		await page.getByTestId('history-load').click();
		const empty = page.getByTestId('history-empty');
		await empty.waitFor();
		assert.match(
			(await empty.textContent()) ?? '',
			/No data in this range; data exists from .+ to .+/
		);
		assert.equal(await page.getByTestId('history-chart').count(), 0, 'no empty chart');
		await page.screenshot({ path: join(artifactsDir, 'sensor-empty-range.png'), fullPage: true });
		await empty.getByRole('button', { name: 'Show that range' }).click();
		await waitFor(async () => (await points(page)) === 10, {
			what: 'the range holding the data to show all 10 values'
		});

		// Someone else is told who can record it; the owner can record from here.
		await other.page.goto(`${server.url}/sensors/${id}`);
		await other.page.getByTestId('not-recorded').getByText('Its owner').waitFor();
		assert.equal(await other.page.getByTestId('history-record').count(), 0);
		await page.getByTestId('history-record').click();
		await note.waitFor({ state: 'detached' });
		assert.equal(
			(await owner.rpc('SensorService/GetSensor', { sensorId: id })).sensor.recording,
			true
		);
		assert.deepEqual(owner.errors, []);
		assert.deepEqual(other.errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'sensor-unrecorded-failure.png') });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await owner.context.close();
		await other.context.close();
	}
});
