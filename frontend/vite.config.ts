import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

// The dev server (npm run dev, :5173) forwards API calls to a local `sensocto serve`.
const api = 'http://localhost:8080';

export default defineConfig({
	plugins: [sveltekit()],
	server: {
		proxy: {
			// Connect RPCs are POST /sensocto.v1.<Service>/<Method>.
			'/sensocto.v1.': { target: api, changeOrigin: true },
			'/healthz': { target: api, changeOrigin: true },
			// OpenID Connect login and callback routes of the server.
			'/auth/': { target: api, changeOrigin: true },
			// The dev mailbox JSON; a page load of /dev/mailbox (HTML) stays with the SPA.
			'/dev/mailbox': {
				target: api,
				changeOrigin: true,
				bypass: (req) => (req.headers.accept?.includes('text/html') ? req.url : undefined)
			}
		}
	},
	// Unit tests run in Node (no DOM, no browser download) but with the client build of
	// Svelte, so runes and $effect behave as in the browser (see src/test/node-client-env.ts).
	resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
	test: {
		include: ['src/**/*.test.ts'],
		environment: './src/test/node-client-env.ts'
	}
});
