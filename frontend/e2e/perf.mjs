// Measures the lobby's main-thread time with 100 live sensor tiles in Chromium.
//   node e2e/perf.mjs            (builds nothing: needs ../bin/sensocto with the SPA)
//   PERF_LAYERS=1 counts compositor layers, PERF_TRACE=1 sums main-thread trace events,
//   PERF_PROFILE=1 lists the JS functions with the most self time (each before measuring);
//   PERF_ONLY=<part of a name> runs only those measurements (e.g. 4600, scroll-1000).
// 100 sensors each publish a 250 Hz ECG (blocks every 250 ms), a heart rate and a
// battery level; the lobby is measured for 10 s with Performance.getMetrics (CDP) at a
// normal window (tiles scrolled away do not stream) and at a window tall enough to show
// all 100 tiles at once (the grid is virtualised: tiles beyond the window plus one row do
// not exist); then 900 idle sensors are added and the 1920×1080 lobby of 1,000 is scrolled
// by wheel for 8 s. Prints JSON and writes e2e/artifacts/perf.json.
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactsDir, launchBrowser, signInAsGuest, startServer, waitFor } from './server.mjs';

const N = 100;
const RATE = 250;
const server = await startServer({ env: { SENSOCTO_AUTH_RATE_LIMIT: '1000' } });
const browser = await launchBrowser();
await mkdir(artifactsDir, { recursive: true });
const results = {};
const layerCounts = {};
try {
	const context = await browser.newContext();
	await signInAsGuest(context, server.url);
	const post = (m, data) =>
		context.request.post(`${server.url}/sensocto.v1.${m}`, {
			headers: { 'Content-Type': 'application/json' },
			data
		});
	for (let i = 0; i < N; i++) {
		await post('SensorService/RegisterSensor', {
			sensorId: `perf-${i}`,
			name: `Perf ${String(i).padStart(3, '0')}`,
			sensorType: 'wearable',
			attributes: [
				{ attributeId: 'ecg', attributeType: 'ecg', unit: 'mV', sampleRateHz: RATE },
				{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' },
				{ attributeId: 'battery', attributeType: 'battery', unit: '%' }
			]
		});
	}
	let stop = false;
	let published = 0;
	let failed = 0;
	const t0 = Date.now() * 1000;
	const pump = (async () => {
		for (let k = 0; !stop; k++) {
			const start = t0 + k * 250_000;
			const n = RATE / 4;
			await Promise.all(
				Array.from({ length: N }, (_, i) =>
					post('SensorService/Publish', {
						sensorId: `perf-${i}`,
						blocks: [
							{
								attributeId: 'ecg',
								startTimeUs: String(start),
								sampleRateHz: RATE,
								samples: Array.from({ length: n }, (_, j) => {
									const p = ((k * n + j + i * 17) % RATE) / RATE;
									return p < 0.03 ? 1.2 : Math.sin(p * 6.28) * 0.1;
								})
							}
						],
						measurements:
							k % 4 === 0
								? [
										{
											attributeId: 'heartrate',
											timeUs: String(start),
											number: 60 + ((k + i) % 30)
										},
										{
											attributeId: 'battery',
											timeUs: String(start),
											number: 100 - ((k / 4 + i) % 100)
										}
									]
								: []
					}).then(
						() => published++,
						() => failed++ // a reset connection under load: counted, not fatal
					)
				)
			);
			const wait = t0 / 1000 + (k + 1) * 250 - Date.now();
			if (wait > 0) await new Promise((r) => setTimeout(r, wait));
		}
	})();

	for (const [name, viewport] of [
		['window-1920x1080', { width: 1920, height: 1080 }],
		['all-100-visible-1920x4600', { width: 1920, height: 4600 }]
	].filter(([n]) => !process.env.PERF_ONLY || n.includes(process.env.PERF_ONLY))) {
		const page = await context.newPage();
		await page.setViewportSize(viewport);
		await page.goto(server.url + '/lobby');
		// The grid is virtualised: the tiles in view (and one row beyond) exist, all of them
		// once the list is loaded and the range placed.
		const grid = page.getByTestId('lobby-grid');
		await waitFor(
			async () => {
				const want =
					Number(await grid.getAttribute('data-end')) -
					Number(await grid.getAttribute('data-start'));
				return (
					(await page.getByTestId('lobby-count').textContent())?.startsWith(`${N} of`) &&
					want > 0 &&
					(await page.getByTestId('sensor-tile').count()) === want
				);
			},
			{ what: 'the tiles in view' }
		);
		await page.waitForTimeout(4000); // settle: streams open, buffers fill
		if (process.env.PERF_LAYERS) {
			const lc = await context.newCDPSession(page);
			let layers = [];
			lc.on('LayerTree.layerTreeDidChange', (e) => (layers = e.layers ?? layers));
			await lc.send('DOM.enable');
			await lc.send('LayerTree.enable');
			await page.waitForTimeout(1500);
			const names = {};
			for (const l of layers) {
				let label = 'no-node';
				if (l.backendNodeId) {
					try {
						const { node } = await lc.send('DOM.describeNode', { backendNodeId: l.backendNodeId });
						label =
							node.nodeName +
							(node.attributes
								? '.' + (node.attributes[node.attributes.indexOf('class') + 1] ?? '')
								: '');
					} catch {
						label = 'gone';
					}
				}
				names[label] = (names[label] ?? 0) + 1;
			}
			layerCounts[name] = layers.length;
			console.log(
				name,
				'layers',
				layers.length,
				JSON.stringify(
					Object.entries(names)
						.sort((a, b) => b[1] - a[1])
						.slice(0, 12)
				)
			);
		}
		if (process.env.PERF_TRACE) {
			await browser.startTracing(undefined, {
				categories: [
					'devtools.timeline',
					'disabled-by-default-devtools.timeline',
					'toplevel',
					'viz',
					'cc'
				]
			});
			await page.waitForTimeout(3000);
			const buf = await browser.stopTracing();
			const ev = JSON.parse(buf.toString()).traceEvents;
			const main = ev.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
			const sums = {};
			const counts = {};
			for (const e of ev) {
				if (e.ph !== 'X' || !main || e.tid !== main.tid || e.pid !== main.pid) continue;
				sums[e.name] = (sums[e.name] ?? 0) + (e.dur ?? 0) / 1000;
				counts[e.name] = (counts[e.name] ?? 0) + 1;
			}
			// How many frames painted (changed) and how many ran at all, over the 3 s.
			console.log(
				name,
				'main-thread events over 3 s: Paint',
				counts.Paint ?? 0,
				'Layerize',
				counts.Layerize ?? 0,
				'BeginMainFrame',
				counts['ProxyMain::BeginMainFrame'] ?? 0,
				'FireAnimationFrame',
				counts.FireAnimationFrame ?? 0
			);
			// Busy time per thread of every browser process (renderer, GPU/viz, browser):
			// the sum of its top-level (non-nested) trace events, in ms over the 3 s.
			const names = new Map(
				ev.filter((e) => e.name === 'thread_name').map((e) => [`${e.pid}:${e.tid}`, e.args.name])
			);
			const byThread = new Map();
			for (const e of ev) {
				if (e.ph !== 'X' || !e.dur) continue;
				const k = `${e.pid}:${e.tid}`;
				if (!byThread.has(k)) byThread.set(k, []);
				byThread.get(k).push(e);
			}
			const threads = {};
			for (const [k, list] of byThread) {
				list.sort((x, y) => x.ts - y.ts);
				let end = -Infinity;
				let busy = 0;
				for (const e of list) {
					if (e.ts >= end) {
						busy += e.dur;
						end = e.ts + e.dur;
					} else if (e.ts + e.dur > end) {
						busy += e.ts + e.dur - end;
						end = e.ts + e.dur;
					}
				}
				const t = `${names.get(k) ?? 'thread'} (${k.split(':')[0]})`;
				threads[t] = Math.round((threads[t] ?? 0) + busy / 1000);
			}
			console.log(
				name,
				'threads busy ms over 3 s',
				JSON.stringify(
					Object.entries(threads)
						.sort((x, y) => y[1] - x[1])
						.slice(0, 12)
				)
			);
			const layouts = ev.filter((e) => e.name === 'Layout' && e.ph === 'X' && e.args?.beginData);
			const objs = layouts.map((e) => e.args.beginData.totalObjects ?? 0);
			if (process.env.PERF_TRACE === 'layout')
				for (const e of layouts.slice(0, 6))
					console.log(
						name,
						'layout',
						Math.round(e.dur / 1000),
						'ms',
						JSON.stringify(e.args.beginData),
						JSON.stringify(e.args.endData?.layoutRoots?.slice(0, 3))
					);
			console.log(
				name,
				'layouts',
				layouts.length,
				'objects per layout (mean, max)',
				Math.round(objs.reduce((a, b) => a + b, 0) / (objs.length || 1)),
				Math.max(0, ...objs),
				'roots per layout (max)',
				Math.max(0, ...layouts.map((e) => e.args.endData?.layoutRoots?.length ?? 0))
			);
			console.log(
				name,
				JSON.stringify(
					Object.entries(sums)
						.sort((a, b) => b[1] - a[1])
						.slice(0, 15)
				)
			);
		}
		if (process.env.PERF_PROFILE) {
			// Self time per JS function over 3 s (CDP Profiler), the top 20.
			const pc = await context.newCDPSession(page);
			await pc.send('Profiler.enable');
			await pc.send('Profiler.setSamplingInterval', { interval: 200 });
			await pc.send('Profiler.start');
			await page.waitForTimeout(3000);
			const { profile } = await pc.send('Profiler.stop');
			const dt = {};
			const byId = new Map(profile.nodes.map((n) => [n.id, n]));
			for (let i = 0; i < profile.samples.length; i++) {
				const n = byId.get(profile.samples[i]);
				const f = n.callFrame;
				const k = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}:${f.columnNumber}`;
				dt[k] = (dt[k] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000;
			}
			console.log(
				name,
				'profile ms',
				JSON.stringify(
					Object.entries(dt)
						.sort((a, b) => b[1] - a[1])
						.slice(0, 20)
						.map(([k, v]) => [k, Math.round(v)])
				)
			);
		}
		const cdp = await context.newCDPSession(page);
		await cdp.send('Performance.enable');
		const get = async () =>
			Object.fromEntries(
				(await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value])
			);
		const a = await get();
		const frames0 = await page.evaluate(() => performance.now());
		const fps = page.evaluate(
			() =>
				new Promise((r) => {
					let n = 0;
					let worst = 0;
					let last = performance.now();
					const end = last + 10_000;
					const f = (t) => {
						n++;
						worst = Math.max(worst, t - last);
						last = t;
						if (t < end) requestAnimationFrame(f);
						else r({ frames: n, worstFrameMs: Math.round(worst) });
					};
					requestAnimationFrame(f);
				})
		);
		const frameStats = await fps;
		const b = await get();
		const wall = (await page.evaluate(() => performance.now())) - frames0;
		const streaming = await page.getByTestId('watching').textContent();
		const d = (k) => b[k] - a[k];
		results[name] = {
			wallSeconds: +(wall / 1000).toFixed(2),
			streaming,
			mainThreadBusyPct: +((d('TaskDuration') / (wall / 1000)) * 100).toFixed(1),
			scriptPct: +((d('ScriptDuration') / (wall / 1000)) * 100).toFixed(1),
			layoutPct: +((d('LayoutDuration') / (wall / 1000)) * 100).toFixed(1),
			styleRecalcPct: +((d('RecalcStyleDuration') / (wall / 1000)) * 100).toFixed(1),
			fps: +(frameStats.frames / (wall / 1000)).toFixed(1),
			worstFrameMs: frameStats.worstFrameMs,
			jsHeapMB: +(b.JSHeapUsedSize / 1048576).toFixed(1),
			domNodes: b.Nodes,
			tiles: await page.getByTestId('sensor-tile').count()
		};
		await page.screenshot({ path: join(artifactsDir, `perf-${name}.png`) });
		await page.close();
	}
	// Scrolling a lobby of 1,000 sensors (the 100 streaming ones first, 900 idle), a wheel
	// step of 400 px every 50 ms for 8 s at 1920×1080: frames/s, main thread, and how many
	// tiles and DOM nodes exist (the grid is virtualised).
	if (!process.env.PERF_ONLY || 'scroll-1000'.includes(process.env.PERF_ONLY)) {
		for (let k = N; k < 1000; k += 25)
			await Promise.all(
				Array.from({ length: Math.min(25, 1000 - k) }, async (_, j) => {
					const res = await post('SensorService/RegisterSensor', {
						sensorId: `perf-${k + j}`,
						name: `Perf ${String(k + j).padStart(3, '0')}`,
						sensorType: 'wearable',
						attributes: [{ attributeId: 'heartrate', attributeType: 'heartrate', unit: 'bpm' }]
					});
					if (!res.ok())
						throw new Error(`register perf-${k + j}: ${res.status()} ${await res.text()}`);
				})
			);
		const page = await context.newPage();
		await page.setViewportSize({ width: 1920, height: 1080 });
		await page.goto(server.url + '/lobby');
		await waitFor(
			async () => (await page.getByTestId('lobby-count').textContent())?.includes('1,000'),
			{ what: '1,000 sensors listed' }
		);
		await page.waitForTimeout(3000);
		await page.mouse.move(960, 30);
		const cdp = await context.newCDPSession(page);
		await cdp.send('Performance.enable');
		const get = async () =>
			Object.fromEntries(
				(await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value])
			);
		const a = await get();
		const t0 = await page.evaluate(() => performance.now());
		const fps = page.evaluate(
			() =>
				new Promise((r) => {
					let n = 0;
					let worst = 0;
					let last = performance.now();
					let maxTiles = 0;
					const end = last + 8000;
					const f = (t) => {
						n++;
						worst = Math.max(worst, t - last);
						last = t;
						maxTiles = Math.max(
							maxTiles,
							document.querySelectorAll('[data-testid="sensor-tile"]').length
						);
						if (t < end) requestAnimationFrame(f);
						else r({ frames: n, worstFrameMs: Math.round(worst), maxTiles });
					};
					requestAnimationFrame(f);
				})
		);
		let steps = 0;
		const scrolling = (async () => {
			for (const until = Date.now() + 8000; Date.now() < until; steps++) {
				await page.mouse.wheel(0, 400);
				await new Promise((r) => setTimeout(r, 50));
			}
		})();
		const st = await fps;
		await scrolling;
		const b = await get();
		const wall = (await page.evaluate(() => performance.now())) - t0;
		const d = (k) => b[k] - a[k];
		results['scroll-1000-sensors-1920x1080'] = {
			wallSeconds: +(wall / 1000).toFixed(2),
			wheelSteps: steps,
			scrolledTo: await page.evaluate(() => Math.round(scrollY)),
			mainThreadBusyPct: +((d('TaskDuration') / (wall / 1000)) * 100).toFixed(1),
			scriptPct: +((d('ScriptDuration') / (wall / 1000)) * 100).toFixed(1),
			layoutPct: +((d('LayoutDuration') / (wall / 1000)) * 100).toFixed(1),
			fps: +(st.frames / (wall / 1000)).toFixed(1),
			worstFrameMs: st.worstFrameMs,
			maxTiles: st.maxTiles,
			domNodes: b.Nodes,
			streaming: await page.getByTestId('watching').textContent()
		};
		await page.screenshot({ path: join(artifactsDir, 'perf-scroll-1000.png') });
		await page.close();
	}
	stop = true;
	await pump;
	results.publishedBatches = published;
	results.failedPublishes = failed;
	results.layers = layerCounts;
	results.note = `${N} sensors × (ECG ${RATE} Hz in 4 blocks/s + heart rate + battery at 1 Hz); headless Chromium, --disable-gpu`;
	console.log(JSON.stringify(results, null, 2));
	await writeFile(join(artifactsDir, 'perf.json'), JSON.stringify(results, null, 2));
} finally {
	await browser.close();
	await server.stop();
}
