import { describe, expect, it } from 'vitest';
import { bonesPath, landmarksOf, POSE_CONNECTIONS, poseReader, squareFrame } from './pose';

const standing = Array.from({ length: 33 }, (_, i) => ({ x: i / 40, y: i / 50, v: 0.9 }));

describe('landmarksOf', () => {
	it('reads {landmarks: [{x, y, v}]} and a bare array, keeping indices', () => {
		const lm = landmarksOf({ landmarks: standing });
		expect(lm).toHaveLength(33);
		expect(lm?.[5]).toEqual({ x: 5 / 40, y: 5 / 50, v: 0.9 });
		expect(landmarksOf(standing)).toHaveLength(33);
		const broken = landmarksOf({ landmarks: [...standing.slice(0, 3), 'x', ...standing.slice(4)] });
		expect(broken?.[3].v).toBe(0);
	});

	it('is undefined for values that are not poses', () => {
		expect(landmarksOf({ x: 0.1, y: 0.2 })).toBeUndefined();
		expect(landmarksOf({ landmarks: [1, 2] })).toBeUndefined();
		expect(landmarksOf(undefined)).toBeUndefined();
	});
});

describe('bonesPath', () => {
	it('draws every MediaPipe connection between visible landmarks, in frame pixels', () => {
		const f = squareFrame(200, 100); // a 100 px square at x 50
		const { d, bones } = bonesPath(standing, f);
		expect(bones).toBe(POSE_CONNECTIONS.length);
		const segs = [...d.matchAll(/M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)/g)].map((m) =>
			m.slice(1).map(Number)
		);
		expect(segs).toHaveLength(POSE_CONNECTIONS.length);
		const [a, b] = POSE_CONNECTIONS[0];
		expect(segs[0][0]).toBeCloseTo(50 + standing[a].x * 100, 1);
		expect(segs[0][3]).toBeCloseTo(standing[b].y * 100, 1);
	});

	it('leaves out bones that end in a landmark that is not visible', () => {
		const lm = standing.map((p, i) => (i === 32 ? { ...p, v: 0.1 } : p));
		const { bones } = bonesPath(lm, squareFrame(100, 100));
		const touching = POSE_CONNECTIONS.filter(([a, b]) => a === 32 || b === 32).length;
		expect(touching).toBe(2);
		expect(bones).toBe(POSE_CONNECTIONS.length - touching);
	});
});

describe('poseReader', () => {
	it('parses once per new value', () => {
		const attr = { latest: { kind: 'struct', value: { landmarks: standing } }, latestTime: 1 };
		const read = poseReader(() => attr);
		const a = read();
		expect(a?.landmarks).toHaveLength(33);
		expect(read()).toBe(a);
		attr.latestTime = 2;
		expect(read()).not.toBe(a);
		expect(read()?.version).toBe(2);
	});
});
