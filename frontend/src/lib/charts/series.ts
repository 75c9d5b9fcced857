// Series is a fixed-size ring buffer of (time, value) pairs for one attribute of one sensor,
// in typed arrays, so live charts append without allocating per sample. Times are seconds
// since the Unix epoch (float64 keeps microseconds for centuries).

/** A sample block's samples land at start + i / rate; a block that starts within this
 * fraction of a sample period of where the previous one ended is joined exactly. */
const JOIN_TOLERANCE = 0.5;

const EMPTY = new Float64Array(0);

export class Series {
	readonly capacity: number;
	// Allocated on the first value: a lobby of 1,000 sensors describes every attribute
	// (sized by its rate) but only the few hundred on screen ever receive data.
	#t = EMPTY;
	#v = EMPTY;
	#head = 0; // index of the next write
	#length = 0;
	/** Sample rate of the last block, 0 for irregular measurements. */
	rateHz = 0;
	/** Bumped on every change; charts redraw when it moved. */
	version = 0;
	/** Values refused because they were not newer than the last one (replays, overlaps). */
	stale = 0;
	/** Expected time of the next block sample (seconds), NaN when unknown. */
	#nextBlockT = NaN;

	constructor(capacity: number) {
		this.capacity = Math.max(2, Math.floor(capacity));
	}

	get length(): number {
		return this.#length;
	}

	/** Time of the newest value (seconds), NaN when empty. */
	get lastTime(): number {
		return this.#length === 0 ? NaN : this.#t[(this.#head - 1 + this.capacity) % this.capacity];
	}

	/** The newest value, NaN when empty. */
	get lastValue(): number {
		return this.#length === 0 ? NaN : this.#v[(this.#head - 1 + this.capacity) % this.capacity];
	}

	/** Appends one value at time t (seconds). Values not newer than the last are dropped. */
	push(t: number, v: number): boolean {
		if (this.#length > 0 && !(t > this.lastTime)) {
			this.stale++;
			return false;
		}
		this.#write(t, v);
		this.version++;
		return true;
	}

	/**
	 * Appends a uniformly sampled block: sample i at startS + i / rateHz. When the block
	 * starts where the previous one ended (within half a sample), it is placed exactly
	 * after it, so consecutive blocks join without a gap, an overlap or a jitter step.
	 * Samples at or before the last stored time (a replayed window) are skipped.
	 */
	pushBlock(startS: number, rateHz: number, samples: ArrayLike<number>): number {
		if (!(rateHz > 0) || samples.length === 0) return 0;
		const dt = 1 / rateHz;
		let start = startS;
		if (
			rateHz === this.rateHz &&
			Number.isFinite(this.#nextBlockT) &&
			Math.abs(startS - this.#nextBlockT) <= dt * JOIN_TOLERANCE
		) {
			start = this.#nextBlockT;
		}
		this.rateHz = rateHz;
		const last = this.#length > 0 ? this.lastTime : -Infinity;
		let added = 0;
		for (let i = 0; i < samples.length; i++) {
			const t = start + i * dt;
			if (t <= last + dt * 1e-3) {
				this.stale++;
				continue;
			}
			this.#write(t, samples[i]);
			added++;
		}
		this.#nextBlockT = start + samples.length * dt;
		if (added > 0) this.version++;
		return added;
	}

	#write(t: number, v: number) {
		if (this.#t.length === 0) {
			this.#t = new Float64Array(this.capacity);
			this.#v = new Float64Array(this.capacity);
		}
		this.#t[this.#head] = t;
		this.#v[this.#head] = v;
		this.#head = (this.#head + 1) % this.capacity;
		if (this.#length < this.capacity) this.#length++;
	}

	/** Forgets everything. */
	clear(): void {
		this.#head = 0;
		this.#length = 0;
		this.#nextBlockT = NaN;
		this.version++;
	}

	/** Index (0 = oldest) of the first value with time ≥ from, by binary search. */
	indexFrom(from: number): number {
		let lo = 0;
		let hi = this.#length;
		const base = (this.#head - this.#length + this.capacity) % this.capacity;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (this.#t[(base + mid) % this.capacity] < from) lo = mid + 1;
			else hi = mid;
		}
		return lo;
	}

	/** Time of the i-th value (0 = oldest). */
	timeAt(i: number): number {
		return this.#t[(this.#head - this.#length + i + this.capacity * 2) % this.capacity];
	}

	/** The i-th value (0 = oldest). */
	valueAt(i: number): number {
		return this.#v[(this.#head - this.#length + i + this.capacity * 2) % this.capacity];
	}

	/**
	 * Copies the values with time ≥ from, oldest first, into t and v (which must hold
	 * capacity items) and returns how many were copied. No allocation.
	 */
	copySince(from: number, t: Float64Array, v: Float64Array): number {
		const first = this.indexFrom(from);
		const n = this.#length - first;
		const base = (this.#head - this.#length + first + this.capacity) % this.capacity;
		const tail = Math.min(n, this.capacity - base);
		t.set(this.#t.subarray(base, base + tail), 0);
		v.set(this.#v.subarray(base, base + tail), 0);
		if (tail < n) {
			t.set(this.#t.subarray(0, n - tail), tail);
			v.set(this.#v.subarray(0, n - tail), tail);
		}
		return n;
	}
}
