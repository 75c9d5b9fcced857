import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { describeError } from './errors';

describe('describeError', () => {
	it("shows the server's reason for a refusal", () => {
		const err = new ConnectError(
			'only the user who started this run may stop it',
			Code.PermissionDenied
		);
		expect(describeError(err)).toBe('only the user who started this run may stop it');
		expect(describeError(new ConnectError('session expired', Code.Unauthenticated))).toBe(
			'session expired'
		);
	});
	it('falls back to the code when the server gave no reason', () => {
		expect(describeError(new ConnectError('', Code.PermissionDenied))).toBe('not allowed');
		expect(describeError(new ConnectError('', Code.Unauthenticated))).toBe('not signed in');
		expect(describeError(new ConnectError('boom', Code.Unavailable))).toBe('server unreachable');
	});
});
