import { Code, ConnectError } from '@connectrpc/connect';

/** Returns a short, human-readable message for an error thrown by a Connect call. */
export function describeError(err: unknown): string {
	const ce = ConnectError.from(err);
	switch (ce.code) {
		case Code.Unavailable:
			return 'server unreachable';
		case Code.Unauthenticated:
			return 'not signed in';
		case Code.PermissionDenied:
			return 'not allowed';
		case Code.Canceled:
			return 'cancelled';
		default:
			return ce.rawMessage || Code[ce.code].toLowerCase();
	}
}

/** Reports whether err is the cancellation of a call we aborted ourselves. */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
	if (signal?.aborted) return true;
	return err instanceof ConnectError && err.code === Code.Canceled;
}
