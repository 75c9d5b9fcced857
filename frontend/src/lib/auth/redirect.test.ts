import { describe, expect, it } from 'vitest';
import { isPublicPath, safeReturnTo, signInHref } from './redirect';

describe('safeReturnTo', () => {
	it.each([
		['/settings', '/settings'],
		['/rooms/abc?tab=members#x', '/rooms/abc?tab=members#x'],
		['/', '/'],
		[null, '/lobby'],
		['', '/lobby'],
		['settings', '/lobby'],
		['//evil.example/x', '/lobby'],
		['/\\evil.example', '/lobby'],
		['https://evil.example/', '/lobby'],
		['javascript:alert(1)', '/lobby'],
		['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
		['/ok\nLocation: x', '/lobby'],
		['/signin', '/lobby'],
		['/signin/magic?secret=x', '/lobby'],
		['/' + 'a'.repeat(600), '/lobby']
	])('%s → %s', (input, want) => {
		expect(safeReturnTo(input)).toBe(want);
	});
});

describe('signInHref', () => {
	it('carries the page to come back to', () => {
		expect(signInHref({ pathname: '/system', search: '' })).toBe('/signin?return_to=%2Fsystem');
		expect(signInHref({ pathname: '/', search: '' })).toBe('/signin');
		expect(signInHref({ pathname: '/lobby', search: '' })).toBe('/signin');
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
