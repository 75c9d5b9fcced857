import { describe, expect, it } from 'vitest';
import { linkify, parseMailbox } from './mailbox';

describe('parseMailbox', () => {
	it('reads camelCase and snake_case messages, newest first, skipping junk', () => {
		const got = parseMailbox([
			{
				id: 1,
				sentAt: '2026-01-01T10:00:00Z',
				to: 'a@x',
				subject: 'Old',
				text: 'hi',
				link: 'http://h/signin/magic?secret=s'
			},
			{ id: 2, sent_at: '2026-01-02T10:00:00Z', to: 'b@x', subject: 'New', body: 'yo' },
			null,
			'nope'
		]);
		expect(got.map((m) => m.subject)).toEqual(['New', 'Old']);
		expect(got[0].text).toBe('yo');
		expect(got[1].link).toBe('http://h/signin/magic?secret=s');
		expect(got[1].sentAt?.toISOString()).toBe('2026-01-01T10:00:00.000Z');
	});

	it('accepts { messages: [...] } and anything else as empty', () => {
		expect(parseMailbox({ messages: [{ subject: 's' }] })).toHaveLength(1);
		expect(parseMailbox({})).toEqual([]);
		expect(parseMailbox(undefined)).toEqual([]);
	});
});

describe('linkify', () => {
	it('splits links out of text', () => {
		expect(linkify('Open https://a.example/x?y=1 now.')).toEqual([
			{ text: 'Open ' },
			{ text: 'https://a.example/x?y=1', href: 'https://a.example/x?y=1' },
			{ text: ' now.' }
		]);
	});
});
