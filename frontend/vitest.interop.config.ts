// Interop checks run by Go tests (server/internal/roomdocrpc): Node with the web app's
// real modules (@automerge/automerge, the generated TS client, src/lib/roomdoc) against a
// server the Go test started. Not part of `npm run test:unit`: they need that server.
import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		include: ['interop/*.interop.ts'],
		environment: 'node',
		testTimeout: 60_000
	}
});
