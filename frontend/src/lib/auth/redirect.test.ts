import { describe, expect, it } from 'vitest';
import { isPublicPath, safeReturnTo, signInHref } from './redirect';

describe('safeReturnTo', () => {
	it.each([
		['/settings', '/settings'],
		['/rooms/abc?tab=members#x', '/rooms/abc?tab=members#x'],
		['/', '/'],
		[null, '/'],
		['', '/'],
		['settings', '/'],
		['//evil.example/x', '/'],
		['/\\evil.example', '/'],
		['https://evil.example/', '/'],
		['javascript:alert(1)', '/'],
		['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
		['/ok\nLocation: x', '/'],
		['/signin', '/'],
		['/signin/magic?secret=x', '/'],
		['/' + 'a'.repeat(600), '/']
	])('%s → %s', (input, want) => {
		expect(safeReturnTo(input)).toBe(want);
	});
});

describe('signInHref', () => {
	it('carries the page to come back to', () => {
		expect(signInHref({ pathname: '/system', search: '' })).toBe('/signin?return_to=%2Fsystem');
		expect(signInHref({ pathname: '/', search: '' })).toBe('/signin');
	});
});

describe('isPublicPath', () => {
	it('knows the pages open to everyone', () => {
		expect(isPublicPath('/signin')).toBe(true);
		expect(isPublicPath('/signin/magic')).toBe(true);
		expect(isPublicPath('/dev/mailbox')).toBe(true);
		expect(isPublicPath('/signinx')).toBe(false);
		expect(isPublicPath('/settings')).toBe(false);
		expect(isPublicPath('/system')).toBe(false);
	});
});
