// Where unauthenticated visitors are sent, and where they return after signing in. A
// return path is only ever a same-origin relative path: anything else (absolute URLs,
// protocol-relative "//host", backslash tricks) falls back to the default page, so a
// crafted sign-in link cannot send someone to another site.

/** The page to open after sign-in when there is no (valid) return path: the live lobby. */
export const defaultReturnTo = '/lobby';

/** Pages reachable without signing in: the sign-in pages and the dev mailbox. */
export function isPublicPath(pathname: string): boolean {
	return (
		pathname === '/signin' ||
		pathname.startsWith('/signin/') ||
		pathname === '/dev/mailbox' ||
		pathname.startsWith('/dev/mailbox/')
	);
}

/**
 * Returns value if it is a same-origin relative path ("/settings?x=1#y"), otherwise
 * defaultReturnTo. Sign-in pages are not valid targets (they would loop).
 */
export function safeReturnTo(value: string | null | undefined): string {
	if (!value || value.length > 512) return defaultReturnTo;
	// Must start with exactly one slash, followed by neither "/" nor "\"; no control characters.
	if (!/^\/(?![/\\])/.test(value)) return defaultReturnTo;
	// eslint-disable-next-line no-control-regex
	if (/[\u0000-\u001f\u007f\\]/.test(value)) return defaultReturnTo;
	let url: URL;
	try {
		const base = 'http://sensocto.invalid';
		url = new URL(value, base);
		if (url.origin !== base) return defaultReturnTo;
	} catch {
		return defaultReturnTo;
	}
	if (isPublicPath(url.pathname)) return defaultReturnTo;
	return url.pathname + url.search + url.hash;
}

/** The sign-in URL that brings the visitor back to url (the page they wanted). */
export function signInHref(url: { pathname: string; search: string; hash?: string }): string {
	const target = safeReturnTo(url.pathname + url.search + (url.hash ?? ''));
	return target === defaultReturnTo || target === '/'
		? '/signin'
		: '/signin?return_to=' + encodeURIComponent(target);
}
