// The component of each lens (lenses.ts), loaded on first use (the location lens brings
// Leaflet, the motion lens three.js). Apart from the list so that the lens components can
// import the list without a cycle.
import type { Component } from 'svelte';

type Loader = () => Promise<{ default: Component }>;

const loaders: Record<string, Loader> = {
	'': () => import('./SensorGrid.svelte'),
	heartrate: () => import('./HeartrateLens.svelte'),
	ecg: () => import('./EcgLens.svelte'),
	breathing: () => import('./BreathingLens.svelte'),
	hrv: () => import('./HrvLens.svelte'),
	imu: () => import('./ImuLens.svelte'),
	pose: () => import('./PoseLens.svelte'),
	gaze: () => import('./GazeLens.svelte'),
	location: () => import('./LocationLens.svelte'),
	battery: () => import('./BatteryLens.svelte')
};

/** Loads the component showing lens id; undefined for an unknown id. */
export function loadLens(id: string): Promise<Component> | undefined {
	return Object.hasOwn(loaders, id) ? loaders[id]().then((m) => m.default) : undefined;
}
