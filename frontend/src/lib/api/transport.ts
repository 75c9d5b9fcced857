// One Connect transport per app: created once in the root layout and handed to every
// component through Svelte context. Components never build their own transport; they ask
// for a typed client with getClient(Service) during initialisation.
import type { DescService } from '@bufbuild/protobuf';
import {
	Code,
	ConnectError,
	createClient,
	type Client,
	type Interceptor,
	type Transport
} from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { createContext } from 'svelte';

const [getTransportContext, setTransportContext] = createContext<Transport>();

export interface TransportOptions {
	/** Server origin; default: the app's own origin. */
	baseUrl?: string;
	/** Binary Protobuf (default) or JSON (readable in the network tab). */
	binary?: boolean;
	/** Interceptors, outermost first (e.g. unauthenticatedInterceptor). */
	interceptors?: Interceptor[];
}

/**
 * Creates the browser transport: the Connect protocol with the binary Protobuf encoding
 * (smaller and cheaper to decode than JSON). The session lives in an httpOnly cookie that
 * the server sets on sign-in; the app never sees the token. fetch sends the cookie because
 * the API shares the app's origin (credentials: 'same-origin', stated explicitly).
 */
export function createTransport(options: TransportOptions = {}): Transport {
	return createConnectTransport({
		baseUrl: options.baseUrl ?? window.location.origin,
		useBinaryFormat: options.binary ?? true,
		interceptors: options.interceptors,
		fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: 'same-origin' })
	});
}

/**
 * AuthService methods whose Unauthenticated answer is expected and handled by the caller
 * (wrong password, no session yet): they must not trigger the sign-in redirect.
 */
const expectedUnauthenticated = new Set([
	'GetAuthConfig',
	'SignInGuest',
	'SignUp',
	'SignIn',
	'RequestMagicLink',
	'VerifyMagicLink',
	'BeginOidcSignIn',
	'SignOut',
	'GetMe'
]);

/**
 * Returns an interceptor that calls onUnauthenticated whenever a call fails with
 * Unauthenticated (an expired guest, a revoked session), except for the sign-in methods
 * of AuthService. The error is still thrown to the caller. Streams are watched too: their
 * error can arrive while the messages are read.
 */
export function unauthenticatedInterceptor(onUnauthenticated: () => void): Interceptor {
	const check = (service: string, method: string, err: unknown) => {
		if (!(err instanceof ConnectError) || err.code !== Code.Unauthenticated) return;
		if (service === 'sensocto.v1.AuthService' && expectedUnauthenticated.has(method)) return;
		onUnauthenticated();
	};
	return (next) => async (req) => {
		const service = req.service.typeName;
		const method = req.method.name;
		let res;
		try {
			res = await next(req);
		} catch (err) {
			check(service, method, err);
			throw err;
		}
		if (!res.stream) return res;
		const messages = res.message;
		return {
			...res,
			message: (async function* () {
				try {
					yield* messages;
				} catch (err) {
					check(service, method, err);
					throw err;
				}
			})()
		};
	};
}

/** Makes transport available to every component below the caller (the root layout). */
export function setTransport(transport: Transport): Transport {
	return setTransportContext(transport);
}

/** Returns the transport set by the root layout. Call during component initialisation. */
export function getTransport(): Transport {
	return getTransportContext();
}

/**
 * Returns a typed client for service over the shared transport, e.g.
 * `const system = getClient(SystemService)`. Call during component initialisation.
 */
export function getClient<T extends DescService>(service: T): Client<T> {
	return createClient(service, getTransportContext());
}
