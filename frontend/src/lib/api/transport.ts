// One Connect transport per app: created once in the root layout and handed to every
// component through Svelte context. Components never build their own transport; they ask
// for a typed client with getClient(Service) during initialisation.
import type { DescService } from '@bufbuild/protobuf';
import { createClient, type Client, type Transport } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { createContext } from 'svelte';

const [getTransportContext, setTransportContext] = createContext<Transport>();

/**
 * Creates the browser transport: the Connect protocol with the binary Protobuf encoding
 * (smaller and cheaper to decode than JSON; pass binary = false to read payloads in the
 * network tab). The session cookie rides along because the API shares the app's origin.
 */
export function createTransport(
	baseUrl: string = window.location.origin,
	binary: boolean = true
): Transport {
	return createConnectTransport({ baseUrl, useBinaryFormat: binary });
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
