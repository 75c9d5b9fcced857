// The virtualised lobby with 1,000 sensors: only the tiles in view (and one row beyond)
// exist, scrolling moves them, and the Watch stream (observed on the wire) and the
// attention reports name only sensors that are on screen or were.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifactsDir, launchBrowser, signInAsGuest, startServer, waitFor } from './server.mjs';

const N = 1000;
const id = (i) => `vl-${String(i).padStart(4, '0')}`;

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

/** Sensor ids named in a binary Connect request body (ids are plain bytes in protobuf). */
function idsIn(buf) {
	return [...new Set((buf?.toString('latin1') ?? '').match(/vl-\d{4}/g) ?? [])].sort();
}

test('a lobby of 1,000 sensors renders, watches and reports only what is in view', async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await signInAsGuest(context, server.url);
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (err) => errors.push(err));
	try {
		// 1,000 sensors, 20 registrations at a time.
		for (let k = 0; k < N; k += 20) {
			await Promise.all(
				Array.from({ length: Math.min(20, N - k) }, async (_, j) => {
					const res = await context.request.post(
						`${server.url}/sensocto.v1.SensorService/RegisterSensor`,
						{
							headers: { 'Content-Type': 'application/json' },
							data: {
								sensorId: id(k + j),
								name: `VL ${String(k + j).padStart(4, '0')}`,
								sensorType: 'wearable',
								attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
							}
						}
					);
					assert.ok(res.ok(), `register ${id(k + j)}: ${res.status()} ${await res.text()}`);
				})
			);
		}

		/** Every Watch opened, in order: the sensors it names. */
		const watches = [];
		/** Every sensor named in an attention report. */
		const reported = new Set();
		page.on('request', (req) => {
			const url = req.url();
			if (url.endsWith('/sensocto.v1.SensorService/Watch'))
				watches.push(idsIn(req.postDataBuffer()));
			if (url.endsWith('/sensocto.v1.AttentionService/ReportAttention'))
				for (const s of idsIn(req.postDataBuffer())) reported.add(s);
		});

		await page.goto(server.url + '/lobby');
		await waitFor(
			async () => (await page.getByTestId('lobby-count').textContent())?.includes('1,000'),
			{ timeoutMs: 30_000, what: 'the list of 1,000 sensors' }
		);

		const grid = page.getByTestId('lobby-grid');
		/** Ever rendered (reports may only name these). */
		const rendered = new Set();
		/** The DOM's tiles, and which of them intersect the viewport, in order. */
		const dom = async () => {
			const r = await page.evaluate(() => {
				const all = [...document.querySelectorAll('[data-testid="sensor-tile"]')];
				const g = document.querySelector('[data-testid="lobby-grid"]');
				const box = g.getBoundingClientRect();
				const inView = (el) => {
					const b = el.getBoundingClientRect();
					return b.height > 0 && b.bottom > 0 && b.top < innerHeight;
				};
				return {
					ids: all.map((el) => el.getAttribute('data-sensor-id')),
					visible: all
						.filter(inView)
						.map((el) => el.getAttribute('data-sensor-id'))
						.sort(),
					first: all.length ? all[0].getBoundingClientRect().top : NaN,
					last: all.length ? all[all.length - 1].getBoundingClientRect().bottom : NaN,
					gridTop: box.top,
					gridBottom: box.bottom,
					start: Number(g.getAttribute('data-start')),
					end: Number(g.getAttribute('data-end'))
				};
			});
			for (const s of r.ids) rendered.add(s);
			return r;
		};
		/**
		 * Waits until the DOM holds exactly the range's tiles and they cover the viewport
		 * (after a scroll the range moves on the next frame).
		 */
		const settled = async (what) =>
			waitFor(
				async () => {
					const r = await dom();
					const placed =
						r.ids.length > 0 &&
						r.ids.length === r.end - r.start &&
						r.first <= Math.max(0, r.gridTop) + 1 &&
						r.last >= Math.min(860, r.gridBottom) - 1;
					return placed ? r : undefined;
				},
				{ what }
			);
		/** Checks that the tiles are the range's, cover the viewport, and are few. */
		const check = (r, where) => {
			assert.deepEqual(
				r.ids,
				Array.from({ length: r.end - r.start }, (_, i) => id(r.start + i)),
				`${where}: the tiles are the list's range ${r.start}..${r.end} in order`
			);
			assert.ok(r.ids.length <= 40, `${where}: ${r.ids.length} tiles in the DOM, want ≤ 40`);
			assert.ok(
				r.first <= Math.max(0, r.gridTop) + 1,
				`${where}: tiles start at ${r.first}, above the viewport's top`
			);
			assert.ok(
				r.last >= Math.min(860, r.gridBottom) - 1,
				`${where}: tiles end at ${r.last}, below the viewport's bottom`
			);
		};
		/** Waits until the newest Watch names exactly the tiles in view. */
		const watching = async (where) => {
			let last;
			await waitFor(
				async () => {
					const r = await dom();
					last = { visible: r.visible, watch: watches.at(-1) };
					return (
						r.visible.length > 0 &&
						JSON.stringify(watches.at(-1)) === JSON.stringify(r.visible) &&
						(await page.getByTestId('watching').textContent()) === `${r.visible.length} streaming`
					);
				},
				{ timeoutMs: 20_000, what: `${where}: the Watch to follow the tiles in view` }
			).catch((err) => {
				throw new Error(`${err.message}: ${JSON.stringify(last)}`);
			});
			return last.visible;
		};

		// At the top: the first rows.
		let r = await settled('the first tiles');
		check(r, 'top');
		assert.equal(r.start, 0);
		await grid.waitFor();
		const top = await watching('top');
		assert.ok(top.includes(id(0)), 'the first sensor is watched');
		assert.ok(top.length < 40, `${top.length} watched at the top`);

		// Keyboard: Tab from the first tile on, past the tiles in view; each tile has three
		// stops (name, pin, favourite). The next row always exists (overscan), the browser
		// scrolls the focused one into view, and the range follows.
		await page
			.locator(`[data-sensor-id="${id(0)}"] a`)
			.first()
			.focus();
		const firstEnd = r.end;
		for (let k = 0; k < 3 * firstEnd + 6; k++) await page.keyboard.press('Tab');
		const focused = await page.evaluate(() => {
			const tile = document.activeElement?.closest('[data-testid="sensor-tile"]');
			const b = tile?.getBoundingClientRect();
			return tile
				? { id: tile.getAttribute('data-sensor-id'), top: b.top, bottom: b.bottom }
				: null;
		});
		assert.ok(focused, 'focus is still on a tile');
		assert.ok(
			Number(focused.id.slice(3)) >= firstEnd,
			`Tab reached ${focused.id}, beyond the first range's end ${firstEnd}`
		);
		assert.ok(focused.top >= 0 && focused.bottom <= 860 + 1, 'the focused tile is in view');
		r = await settled('after Tab');
		check(r, 'after Tab');
		await page.evaluate(() => window.scrollTo(0, 0));
		r = await settled('back at the top');

		// Scroll like a user, a wheel step at a time, down past the first screens: the
		// viewport stays covered at every step.
		await page.mouse.move(640, 5); // over the header: no hover on a tile
		for (let k = 0; k < 8; k++) {
			await page.mouse.wheel(0, 700);
			await page.waitForFunction(() => true); // let the scroll event run
			r = await settled(`wheel step ${k + 1}`);
			check(r, `wheel step ${k + 1}`);
		}
		assert.ok(r.start > 0, `scrolled on: the range starts at ${r.start}`);
		const afterWheel = await watching('after scrolling by wheel');
		assert.ok(!afterWheel.includes(id(0)), 'the first sensor is no longer watched');

		// Jump to the middle and to the end.
		await page.evaluate(() => {
			const g = document.querySelector('[data-testid="lobby-grid"]');
			const box = g.getBoundingClientRect();
			window.scrollTo(0, scrollY + box.top + box.height / 2);
		});
		r = await settled('the middle');
		check(r, 'middle');
		assert.ok(r.start > 400 && r.end < 600, `middle: range ${r.start}..${r.end}`);
		const middle = await watching('middle');
		assert.ok(middle.every((s) => Number(s.slice(3)) >= r.start && Number(s.slice(3)) < r.end));
		await page.screenshot({ path: join(artifactsDir, 'lobby-1000-middle.png') });

		await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
		r = await settled('the end');
		check(r, 'end');
		assert.equal(r.end, N);
		const end = await watching('end');
		assert.ok(end.includes(id(N - 1)), 'the last sensor is watched');

		// Every Watch named only sensors that had tiles, never more than a screen's worth,
		// and so did the attention reports.
		for (const w of watches) {
			assert.ok(w.length <= 40, `a Watch of ${w.length} sensors`);
			for (const s of w) assert.ok(rendered.has(s), `Watch named ${s}, which never had a tile`);
		}
		assert.ok(reported.size > 0, 'attention was reported');
		for (const s of reported)
			assert.ok(rendered.has(s), `attention reported for ${s}, never rendered`);
		assert.ok(rendered.size < 200, `${rendered.size} sensors ever had a tile`);
		assert.deepEqual(errors, []);
	} catch (err) {
		await page.screenshot({ path: join(artifactsDir, 'lobby-1000-failure.png') });
		console.error(server.logs().slice(-3000));
		throw err;
	} finally {
		await context.close();
	}
});
