// Starts the Sensocto server for end-to-end tests, or uses the one at SENSOCTO_E2E_URL.
//
//   SENSOCTO_BIN      server binary (default ../bin/sensocto relative to frontend/)
//   SENSOCTO_E2E_URL  use this running server instead of starting one
//   CHROMIUM_PATH     browser binary (default /usr/bin/chromium)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const frontendDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const artifactsDir = join(frontendDir, 'e2e', 'artifacts');

/** Returns a TCP port that was free a moment ago. */
async function freePort() {
	return new Promise((ok, fail) => {
		const srv = createServer();
		srv.unref();
		srv.on('error', fail);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
			srv.close(() => ok(port));
		});
	});
}

/**
 * Polls fn every intervalMs until it returns a truthy value or timeoutMs passes.
 * @template T
 * @param {() => Promise<T>} fn
 * @param {{ timeoutMs?: number, intervalMs?: number, what?: string }} [opts]
 * @returns {Promise<T>}
 */
export async function waitFor(
	fn,
	{ timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {}
) {
	const deadline = Date.now() + timeoutMs;
	let lastErr;
	for (;;) {
		try {
			const v = await fn();
			if (v) return v;
		} catch (err) {
			lastErr = err;
		}
		if (Date.now() > deadline) {
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastErr });
		}
		await new Promise((r) => setTimeout(r, intervalMs));
	}
}

/**
 * Starts `sensocto serve` on a free port with a temporary data directory and waits until
 * /healthz answers 200. With SENSOCTO_E2E_URL set it starts nothing and returns that URL.
 * env adds variables for the server (e.g. { SENSOCTO_DEV: 'true' } for the dev mailbox).
 * `kill` ends the process at once (SIGKILL: no shutdown work) keeping the data directory;
 * `restart` starts it again on the same port and data directory (a server restart).
 * @param {{ env?: Record<string, string> }} [options]
 * @returns {Promise<{ url: string, logs: () => string, stop: () => Promise<void>, kill: () => Promise<void>, restart: () => Promise<void> }>}
 */
export async function startServer({ env = {} } = {}) {
	const external = process.env.SENSOCTO_E2E_URL;
	if (external) {
		const url = external.replace(/\/+$/, '');
		await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { what: `${url}/healthz` });
		const cannot = async () => {
			throw new Error('cannot restart an external server (SENSOCTO_E2E_URL)');
		};
		return { url, logs: () => '', stop: async () => {}, kill: cannot, restart: cannot };
	}

	const bin = resolve(frontendDir, process.env.SENSOCTO_BIN || '../bin/sensocto');
	if (!existsSync(bin)) {
		throw new Error(
			`server binary ${bin} not found: build it (go build -o bin/sensocto ./server/cmd/sensocto) ` +
				'or set SENSOCTO_BIN / SENSOCTO_E2E_URL'
		);
	}
	const port = await freePort();
	const dataDir = await mkdtemp(join(tmpdir(), 'sensocto-e2e-'));
	const url = `http://127.0.0.1:${port}`;
	let output = '';
	let running = false;
	/** @type {import('node:child_process').ChildProcess} */
	let proc;
	/** @type {Promise<number | null>} */
	let exited = Promise.resolve(null);

	const launch = async () => {
		proc = spawn(bin, ['serve'], {
			env: {
				...process.env,
				// Links in emails (magic links) must point at this server.
				SENSOCTO_PUBLIC_URL: url,
				...env,
				SENSOCTO_HTTP_ADDR: `127.0.0.1:${port}`,
				SENSOCTO_DATA_DIR: dataDir
			},
			stdio: ['ignore', 'pipe', 'pipe']
		});
		proc.stdout?.on('data', (b) => (output += b));
		proc.stderr?.on('data', (b) => (output += b));
		running = true;
		exited = new Promise((r) => proc.on('exit', (code) => r(code)));
		exited.then(() => (running = false));
		await waitFor(
			async () => {
				if (!running) throw new Error('server exited');
				return (await fetch(`${url}/healthz`)).status === 200;
			},
			{ what: `${url}/healthz` }
		);
	};

	const kill = async () => {
		if (running) {
			proc.kill('SIGKILL');
			await exited;
		}
	};

	const stop = async () => {
		if (running) {
			proc.kill('SIGTERM');
			const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
			await exited;
			clearTimeout(timer);
		}
		await rm(dataDir, { recursive: true, force: true });
	};

	try {
		await launch();
	} catch (err) {
		await stop();
		throw new Error(`server did not become healthy:\n${output}`, { cause: err });
	}
	const restart = async () => {
		await kill();
		output += '\n--- restart ---\n';
		try {
			await launch();
		} catch (err) {
			throw new Error(`server did not become healthy again:\n${output}`, { cause: err });
		}
	};
	return { url, logs: () => output, stop, kill, restart };
}

/**
 * Signs the browser context in as a new guest through the API (the session cookie lands
 * in the context's cookie jar), for tests that are not about signing in.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} url server URL
 */
export async function signInAsGuest(context, url) {
	const res = await context.request.post(`${url}/sensocto.v1.AuthService/SignInGuest`, {
		headers: { 'Content-Type': 'application/json' },
		data: {}
	});
	if (!res.ok()) throw new Error(`SignInGuest answered ${res.status()}: ${await res.text()}`);
	return res.json();
}

/**
 * Returns a function calling the API as the browser context's user (its cookie jar):
 * `rpc('SensorService/GetHistory', {...})` posts JSON and returns the answer, or throws
 * naming the method and status.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} url server URL
 */
export function rpcAs(context, url) {
	return async (/** @type {string} */ method, /** @type {unknown} */ data) => {
		const res = await context.request.post(`${url}/sensocto.v1.${method}`, {
			headers: { 'Content-Type': 'application/json' },
			data
		});
		if (!res.ok()) throw new Error(`${method}: ${res.status()} ${await res.text()}`);
		return res.json();
	};
}

/** Launches the system Chromium (never a downloaded browser). */
export function launchBrowser() {
	return chromium.launch({
		executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync'
		]
	});
}
