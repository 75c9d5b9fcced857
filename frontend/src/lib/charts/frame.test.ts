import { describe, expect, it } from 'vitest';
import { beatOf, FrameScheduler, type FrameHost } from './frame';

/** A host whose frames the test runs by hand, with elements made visible by hand. */
function fakeHost() {
	let next = 1;
	let pending: { id: number; cb: (now: number) => void } | undefined;
	const visibility = new Map<Element, (v: boolean) => void>();
	const host: FrameHost = {
		request: (cb) => {
			pending = { id: next++, cb };
			return pending.id;
		},
		cancel: (id) => {
			if (pending?.id === id) pending = undefined;
		},
		observe: (el, visible) => {
			visibility.set(el, visible);
			return () => visibility.delete(el);
		}
	};
	return {
		host,
		/** Runs the requested frame at time now; false when none was requested. */
		frame(now: number): boolean {
			const p = pending;
			pending = undefined;
			p?.cb(now);
			return !!p;
		},
		get requested() {
			return !!pending;
		},
		setVisible(el: Element, v: boolean) {
			visibility.get(el)?.(v);
		},
		observed: visibility
	};
}

/** Frame times of a 60 Hz display from t0 for n frames. */
const frames = (t0: number, n: number) => Array.from({ length: n }, (_, i) => t0 + (i * 1000) / 60);

describe('beatOf', () => {
	it('numbers the slots of the page clock, a frame up to 4 ms early counting for its slot', () => {
		expect(beatOf(0, 50)).toBe(0);
		expect(beatOf(45.9, 50)).toBe(0);
		expect(beatOf(46, 50)).toBe(1);
		expect(beatOf(99, 50)).toBe(2);
		expect(beatOf(123, 0)).toBe(123); // no cap: every frame is its own beat
	});
});

describe('FrameScheduler', () => {
	it('runs callbacks of one rate in the same frames, and nothing in the frames between', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		const calls: [string, number][] = [];
		for (const name of ['a', 'b', 'c'])
			s.add(
				(now) => {
					calls.push([name, now]);
					return true;
				},
				{ fps: 15 }
			);
		const times = frames(1000, 60); // one second
		for (const t of times) f.frame(t);
		const byFrame = new Map<number, string[]>();
		for (const [n, t] of calls) byFrame.set(t, [...(byFrame.get(t) ?? []), n]);
		// 15 beats in a second (the first frame starts one), each with all three callbacks.
		expect(byFrame.size).toBeGreaterThanOrEqual(15);
		expect(byFrame.size).toBeLessThanOrEqual(16);
		for (const names of byFrame.values()) expect(names.sort()).toEqual(['a', 'b', 'c']);
		// Frames with draws are 4 frames apart at 60 Hz (66.7 ms slots).
		const at = [...byFrame.keys()].map((t) => times.indexOf(t));
		for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBe(4);
	});

	it('lines up slower rates with the faster ones (5 per second on every third beat of 15)', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		const fast: number[] = [];
		const slow: number[] = [];
		s.add((now) => void fast.push(now), { fps: 15 });
		s.add((now) => void slow.push(now), { fps: 5 });
		for (const t of frames(0, 120)) f.frame(t);
		expect(slow.length).toBeGreaterThanOrEqual(10);
		expect(slow.length).toBeLessThanOrEqual(11);
		for (const t of slow) expect(fast).toContain(t);
	});

	it('skips a callback while its element is off screen, and runs it once it is back', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		const el = {} as Element;
		let n = 0;
		s.add(() => void n++, { element: el });
		f.frame(0);
		expect(n).toBe(0); // not visible until the observer says so
		f.setVisible(el, true);
		f.frame(17);
		f.frame(33);
		expect(n).toBe(2);
		f.setVisible(el, false);
		f.frame(50);
		expect(n).toBe(2);
	});

	it('draws at most maxDraws in a frame and the rest in the next frame, none twice', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host, 2);
		const drawn: number[][] = [];
		let frame: number[] = [];
		for (let i = 0; i < 5; i++)
			s.add(
				() => {
					frame.push(i);
					return true;
				},
				{ fps: 1 }
			);
		for (const t of [0, 17, 33, 50]) {
			frame = [];
			f.frame(t);
			drawn.push(frame);
		}
		expect(drawn).toEqual([[0, 1], [2, 3], [4], []]);
		expect(s.lastDrawn).toBe(0);
	});

	it('counts only callbacks that report a draw against the budget', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host, 1);
		let calls = 0;
		for (let i = 0; i < 4; i++)
			s.add(() => {
				calls++;
				return false; // data did not move
			});
		f.frame(0);
		expect(calls).toBe(4);
	});

	it('stops requesting frames when the last callback leaves, and stops observing', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		const el = {} as Element;
		const off1 = s.add(() => {}, { element: el });
		const off2 = s.add(() => {});
		expect(f.requested).toBe(true);
		expect(f.observed.has(el)).toBe(true);
		off1();
		expect(f.observed.has(el)).toBe(false);
		expect(s.size).toBe(1);
		off2();
		expect(f.requested).toBe(false);
		expect(s.size).toBe(0);
		off2(); // twice is harmless
		expect(f.frame(100)).toBe(false);
	});

	it('lets a callback remove itself and others during a frame', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		const calls: string[] = [];
		let offB = () => {};
		const offA = s.add(() => {
			calls.push('a');
			offA(); // leaves at once (as WatchStore's tick flush does when idle)
			offB(); // and takes a later one with it
		});
		offB = s.add(() => void calls.push('b'));
		s.add(() => void calls.push('c'));
		f.frame(0);
		f.frame(17);
		expect(calls).toEqual(['a', 'c', 'c']);
		expect(s.size).toBe(1);
	});

	it('keeps running the others when a callback throws', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		let ran = false;
		const err = console.error;
		console.error = () => {};
		try {
			s.add(() => {
				throw new Error('boom');
			});
			s.add(() => void (ran = true));
			f.frame(0);
		} finally {
			console.error = err;
		}
		expect(ran).toBe(true);
		expect(f.requested).toBe(true);
	});

	it('survives a draw that ends other callbacks during the frame', () => {
		const f = fakeHost();
		const s = new FrameScheduler(f.host);
		const ran: string[] = [];
		let offB = () => {};
		let offC = () => {};
		s.add(() => {
			ran.push('a');
			offB(); // a chart torn down at once by another's draw
			offC();
			return true;
		});
		offB = s.add(() => {
			ran.push('b');
			return true;
		});
		offC = s.add(() => {
			ran.push('c');
			return true;
		});
		expect(() => f.frame(1000)).not.toThrow();
		expect(ran).toEqual(['a']);
		expect(s.size).toBe(1);
	});
});
