// A Vitest environment that is plain Node (no DOM, no browser) but transforms modules for
// the client, so .svelte.ts files compile with Svelte's client runtime and $effect runs.
import type { Environment } from 'vitest/runtime';
import { builtinEnvironments } from 'vitest/runtime';

const env: Environment = {
	...builtinEnvironments.node,
	name: 'node-client',
	viteEnvironment: 'client'
};

export default env;
