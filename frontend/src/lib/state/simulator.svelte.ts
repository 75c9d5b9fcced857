// SimulatorStore lists the scenarios and runs of SimulatorService, starts and stops
// scenarios, and polls ListRuns (every 2 s by default) while a page shows it.
import type { Client } from '@connectrpc/connect';
import { Code } from '@connectrpc/connect';
import { untrack } from 'svelte';
import {
	RunStatus,
	type Run,
	type Scenario,
	type SimulatorService
} from '$lib/gen/sensocto/v1/simulator_pb';
import { describeError, hasCode } from '$lib/api/errors';

export class SimulatorStore {
	scenarios = $state.raw<Scenario[]>([]);
	runs = $state.raw<Run[]>([]);
	status = $state<'idle' | 'loading' | 'ready' | 'unavailable' | 'error'>('idle');
	error = $state<string | undefined>(undefined);
	/** Scenario names with a start or stop in flight. */
	busy: Record<string, boolean> = $state({});
	/** Per-scenario error of the last start or stop. */
	actionError: Record<string, string> = $state({});
	/** Polls done (a test aid). */
	polls = $state(0);

	/**
	 * The signed-in user's running run of each scenario: only these can be stopped here (a
	 * run is stopped by the user who started it).
	 */
	running = $derived(
		Object.fromEntries(
			this.runs
				.filter((r) => r.status === RunStatus.RUNNING && r.ownerId === this.#me())
				.map((r) => [r.scenarioName, r])
		) as Record<string, Run>
	);

	/**
	 * Running runs of each scenario started by someone else (the server's demo run): shown,
	 * never offered to stop; the user may still start an own run of the scenario.
	 */
	othersRunning = $derived(
		Object.fromEntries(
			this.runs
				.filter((r) => r.status === RunStatus.RUNNING && r.ownerId !== this.#me())
				.map((r) => [r.scenarioName, r])
		) as Record<string, Run>
	);

	readonly #client: Client<typeof SimulatorService>;
	readonly #pollMs: number;
	readonly #me: () => string | undefined;
	#timer: ReturnType<typeof setInterval> | undefined;

	/** me returns the signed-in user's id (reactive), to tell own runs from others'. */
	constructor(
		client: Client<typeof SimulatorService>,
		options: { pollMs?: number; me?: () => string | undefined } = {}
	) {
		this.#client = client;
		this.#pollMs = options.pollMs ?? 2000;
		this.#me = options.me ?? (() => undefined);
	}

	start(): void {
		if (this.#timer) return;
		untrack(() => void this.load());
		this.#timer = setInterval(() => void this.poll(), this.#pollMs);
	}

	stop(): void {
		clearInterval(this.#timer);
		this.#timer = undefined;
	}

	async load(): Promise<void> {
		this.status = 'loading';
		try {
			const [sc, runs] = await Promise.all([
				this.#client.listScenarios({}),
				this.#client.listRuns({ limit: 50 })
			]);
			this.scenarios = sc.scenarios;
			this.runs = runs.runs;
			this.status = 'ready';
			this.error = undefined;
		} catch (err) {
			this.error = describeError(err);
			this.status =
				hasCode(err, Code.Unimplemented) || hasCode(err, Code.NotFound) ? 'unavailable' : 'error';
		}
	}

	async poll(): Promise<void> {
		if (this.status !== 'ready') {
			if (this.status === 'error') await this.load();
			return;
		}
		try {
			this.runs = (await this.#client.listRuns({ limit: 50 })).runs;
			this.polls++;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	async startScenario(name: string): Promise<void> {
		await this.#act(name, async () => {
			try {
				await this.#client.startScenario({ name });
			} catch (err) {
				// Already running (another tab started it): that is what the user wanted.
				if (!hasCode(err, Code.AlreadyExists)) throw err;
			}
		});
	}

	async stopScenario(name: string): Promise<void> {
		await this.#act(name, async () => {
			try {
				await this.#client.stopScenario({ name });
			} catch (err) {
				if (!hasCode(err, Code.NotFound)) throw err;
			}
		});
	}

	async #act(name: string, fn: () => Promise<void>): Promise<void> {
		this.busy[name] = true;
		delete this.actionError[name];
		try {
			await fn();
			this.runs = (await this.#client.listRuns({ limit: 50 })).runs;
		} catch (err) {
			this.actionError[name] = describeError(err);
		} finally {
			delete this.busy[name];
		}
	}
}
