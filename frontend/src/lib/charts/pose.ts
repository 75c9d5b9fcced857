// Pose (skeleton) values: 33 landmarks in MediaPipe Pose order, in normalised image
// coordinates (x right, y down, 0..1) with a visibility v. The simulator sends
// {landmarks: [{x, y, v} × 33]} (server/internal/simulator/generate/skeleton.go); a
// real pose estimator sends the same shape, sometimes with z or "visibility".
import type { JsonValue } from '@bufbuild/protobuf';

/** Number of landmarks of a MediaPipe pose. */
export const LANDMARKS = 33;

/**
 * The bones of a stick figure: pairs of landmark indices, as MediaPipe's
 * POSE_CONNECTIONS (face, arms and hands, torso, legs and feet).
 */
export const POSE_CONNECTIONS: readonly (readonly [number, number])[] = [
	// face
	[0, 1],
	[1, 2],
	[2, 3],
	[3, 7],
	[0, 4],
	[4, 5],
	[5, 6],
	[6, 8],
	[9, 10],
	// shoulders and arms
	[11, 12],
	[11, 13],
	[13, 15],
	[12, 14],
	[14, 16],
	// hands
	[15, 17],
	[15, 19],
	[15, 21],
	[17, 19],
	[16, 18],
	[16, 20],
	[16, 22],
	[18, 20],
	// torso
	[11, 23],
	[12, 24],
	[23, 24],
	// legs and feet
	[23, 25],
	[25, 27],
	[27, 29],
	[29, 31],
	[27, 31],
	[24, 26],
	[26, 28],
	[28, 30],
	[30, 32],
	[28, 32]
];

/** A landmark: x, y in 0..1 (y down), v its visibility 0..1. */
export interface Landmark {
	x: number;
	y: number;
	v: number;
}

/** Landmarks below this visibility are not drawn (nor the bones that end in them). */
export const MIN_VISIBILITY = 0.3;

/**
 * The landmarks of a pose value ({landmarks: [...]}, or a bare array), or undefined
 * when the value is not a pose. Landmarks that are not {x, y} numbers come back
 * invisible (v 0), so indices keep their meaning.
 */
export function landmarksOf(value: JsonValue | undefined): Landmark[] | undefined {
	const list = Array.isArray(value)
		? value
		: value && typeof value === 'object' && Array.isArray(value.landmarks)
			? value.landmarks
			: undefined;
	if (!list || list.length < 17) return undefined;
	return list.map((p) => {
		if (!p || typeof p !== 'object' || Array.isArray(p)) return { x: 0, y: 0, v: 0 };
		const { x, y } = p;
		if (typeof x !== 'number' || typeof y !== 'number') return { x: 0, y: 0, v: 0 };
		const vis = typeof p.v === 'number' ? p.v : typeof p.visibility === 'number' ? p.visibility : 1;
		return { x, y, v: vis };
	});
}

/** Where the figure is drawn: a square of side size at (left, top), in pixels. */
export interface Frame {
	left: number;
	top: number;
	size: number;
}

/** The largest square inside w × h, centred: normalised coordinates keep their aspect. */
export function squareFrame(w: number, h: number, pad = 0): Frame {
	const size = Math.max(0, Math.min(w, h) - 2 * pad);
	return { left: (w - size) / 2, top: (h - size) / 2, size };
}

function px(n: number): string {
	return n.toFixed(1);
}

/**
 * The bones as one SVG path: "M x1 y1 L x2 y2" per connection whose two ends are
 * visible, in the frame's pixels. Returns the path and how many bones it holds.
 */
export function bonesPath(lm: Landmark[], f: Frame): { d: string; bones: number } {
	let d = '';
	let bones = 0;
	for (const [a, b] of POSE_CONNECTIONS) {
		const p = lm[a];
		const q = lm[b];
		if (!p || !q || p.v < MIN_VISIBILITY || q.v < MIN_VISIBILITY) continue;
		d +=
			`M${px(f.left + p.x * f.size)} ${px(f.top + p.y * f.size)}` +
			`L${px(f.left + q.x * f.size)} ${px(f.top + q.y * f.size)}`;
		bones++;
	}
	return { d, bones };
}

/** The head: a circle around the nose, sized from the ears (or the shoulders). */
export function headCircle(
	lm: Landmark[],
	f: Frame
): { cx: number; cy: number; r: number } | undefined {
	const nose = lm[0];
	if (!nose || nose.v < MIN_VISIBILITY) return undefined;
	const l = lm[7];
	const r = lm[8];
	let span =
		l && r && l.v >= MIN_VISIBILITY && r.v >= MIN_VISIBILITY ? Math.hypot(l.x - r.x, l.y - r.y) : 0;
	if (!span) {
		const a = lm[11];
		const b = lm[12];
		span = a && b ? Math.hypot(a.x - b.x, a.y - b.y) * 0.6 : 0.05;
	}
	return {
		cx: f.left + nose.x * f.size,
		cy: f.top + nose.y * f.size,
		r: Math.max(2, (span / 2) * 1.5 * f.size)
	};
}

/** What PoseFigure reads: the latest landmarks and a number that changes with each pose. */
export type PoseReading = { landmarks: Landmark[]; version: number } | undefined;

/**
 * A reader for PoseFigure over a live attribute (looked up on each call: it appears with
 * the first data). The landmarks are parsed once per new value, not once per frame.
 */
export function poseReader(
	get: () => { latest?: { kind: string; value: unknown }; latestTime: number } | undefined
): () => PoseReading {
	let version = NaN;
	let cached: PoseReading;
	return () => {
		const a = get();
		if (!a || a.latest?.kind !== 'struct') return undefined;
		if (a.latestTime !== version) {
			version = a.latestTime;
			const lm = landmarksOf(a.latest.value as JsonValue);
			cached = lm ? { landmarks: lm, version } : undefined;
		}
		return cached;
	};
}
