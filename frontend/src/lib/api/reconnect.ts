// Reconnect with backoff: the one loop that keeps every long-lived stream of the app open
// (Watch, WatchStatus). When a stream fails or the server ends it, the next attempt waits
// min·2^failures (at most max), with ±20 % jitter so many tabs do not reconnect in lockstep
// after a server restart; a message that arrives resets the count.
import { describeError, isAbort } from '$lib/api/errors';

export interface KeepOpen {
	/** First pause in milliseconds; doubles per failure up to maxBackoffMs. */
	minBackoffMs: number;
	/** Longest pause in milliseconds. */
	maxBackoffMs: number;
	/**
	 * Opens the stream and reads it to its end, calling received() for every message (which
	 * resets the backoff). failures counts the attempts that failed in a row before this one.
	 */
	open(received: () => void, failures: number): Promise<void>;
	/** An attempt ended (why: the error, or "stream ended"); the next one follows after delayMs. */
	retrying(why: string, delayMs: number): void;
	/** The pause is over; the next attempt opens now. */
	retried?(): void;
}

/** Runs k.open again and again until signal aborts. */
export async function keepOpen(signal: AbortSignal, k: KeepOpen): Promise<void> {
	let failures = 0;
	while (!signal.aborted) {
		let why = 'stream ended'; // the server ended the stream (restart, drain)
		try {
			await k.open(() => (failures = 0), failures);
			if (signal.aborted) return;
		} catch (err) {
			if (isAbort(err, signal)) return;
			why = describeError(err);
		}
		const delay = backoffMs(failures, k.minBackoffMs, k.maxBackoffMs);
		failures++;
		k.retrying(why, delay);
		await sleep(delay, signal);
		k.retried?.();
	}
}

/** The pause after failures failed attempts in a row, with ±20 % jitter. */
export function backoffMs(failures: number, minMs: number, maxMs: number): number {
	const delay = Math.min(maxMs, minMs * 2 ** failures);
	return Math.round(delay * (0.8 + Math.random() * 0.4));
}

/** Resolves after ms milliseconds, or at once when signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
	return new Promise((resolve) => {
		if (signal.aborted) return resolve();
		const timer = setTimeout(done, ms);
		signal.addEventListener('abort', done, { once: true });
		function done() {
			clearTimeout(timer);
			signal.removeEventListener('abort', done);
			resolve();
		}
	});
}
