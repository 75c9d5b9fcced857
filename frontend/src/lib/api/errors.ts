import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { Code, ConnectError } from '@connectrpc/connect';

/** Returns a short, human-readable message for an error thrown by a Connect call. */
export function describeError(err: unknown): string {
	const ce = ConnectError.from(err);
	switch (ce.code) {
		case Code.Unavailable:
			return 'server unreachable';
		// A refusal carries the server's reason, chosen to be shown ("only the owner of this
		// run may stop it"); the bare code only when it sent none.
		case Code.Unauthenticated:
			return ce.rawMessage || 'not signed in';
		case Code.PermissionDenied:
			return ce.rawMessage || 'not allowed';
		case Code.Canceled:
			return 'cancelled';
		case Code.ResourceExhausted: {
			const s = retryAfterSeconds(ce);
			return s !== undefined
				? `Too many attempts. Try again in ${s} s.`
				: 'Too many attempts. Try again in a moment.';
		}
		default:
			return ce.rawMessage || Code[ce.code].toLowerCase();
	}
}

/** Reports whether err is the cancellation of a call we aborted ourselves. */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
	if (signal?.aborted) return true;
	return err instanceof ConnectError && err.code === Code.Canceled;
}

/** Reports whether err is a Connect error with the given code. */
export function hasCode(err: unknown, code: Code): boolean {
	return err instanceof ConnectError && err.code === code;
}

/** One bad field of a request, as the server's google.rpc.BadRequest detail names it. */
export interface FieldViolation {
	/** Field path, e.g. "email" or "display_name". */
	field: string;
	description: string;
}

// The server attaches google.rpc.BadRequest and google.rpc.RetryInfo details. Their types
// are not in src/lib/gen (buf.gen.yaml generates sensocto/v1 and its imports only), so the
// two small messages are read straight off the wire here. If google/rpc types are ever
// generated, replace these with err.findDetails(BadRequestSchema / RetryInfoSchema).
const badRequestType = 'google.rpc.BadRequest';
const retryInfoType = 'google.rpc.RetryInfo';

function incomingDetails(err: ConnectError, type: string): Uint8Array[] {
	const out: Uint8Array[] = [];
	for (const d of err.details) {
		if ('type' in d && d.type === type) out.push(d.value);
	}
	return out;
}

/**
 * Returns the field violations of an InvalidArgument error (google.rpc.BadRequest), or an
 * empty list when there are none or the detail cannot be read.
 */
export function fieldViolations(err: unknown): FieldViolation[] {
	if (!(err instanceof ConnectError)) return [];
	const out: FieldViolation[] = [];
	try {
		for (const bytes of incomingDetails(err, badRequestType)) {
			// BadRequest { repeated FieldViolation field_violations = 1; }
			// FieldViolation { string field = 1; string description = 2; }
			const r = new BinaryReader(bytes);
			while (r.pos < r.len) {
				const [no, wt] = r.tag();
				if (no !== 1 || wt !== WireType.LengthDelimited) {
					r.skip(wt, no);
					continue;
				}
				const v = new BinaryReader(r.bytes());
				const fv: FieldViolation = { field: '', description: '' };
				while (v.pos < v.len) {
					const [fno, fwt] = v.tag();
					if (fno === 1 && fwt === WireType.LengthDelimited) fv.field = v.string();
					else if (fno === 2 && fwt === WireType.LengthDelimited) fv.description = v.string();
					else v.skip(fwt, fno);
				}
				out.push(fv);
			}
		}
	} catch {
		// A malformed detail is ignored: the caller falls back to the error message.
	}
	return out;
}

/**
 * Maps violations to a record by top-level field name (camelCase and snake_case both
 * resolve to the snake_case proto name), keeping the first description per field.
 */
export function violationsByField(violations: FieldViolation[]): Record<string, string> {
	const out: Record<string, string> = {};
	for (const v of violations) {
		const key = v.field.split(/[.[]/)[0].replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
		if (!(key in out)) out[key] = v.description;
	}
	return out;
}

/**
 * Returns after how many whole seconds a ResourceExhausted call may be retried: from the
 * google.rpc.RetryInfo detail, else from the Retry-After header; undefined if neither.
 */
export function retryAfterSeconds(err: unknown): number | undefined {
	if (!(err instanceof ConnectError)) return undefined;
	try {
		for (const bytes of incomingDetails(err, retryInfoType)) {
			// RetryInfo { google.protobuf.Duration retry_delay = 1; }
			// Duration { int64 seconds = 1; int32 nanos = 2; }
			const r = new BinaryReader(bytes);
			while (r.pos < r.len) {
				const [no, wt] = r.tag();
				if (no !== 1 || wt !== WireType.LengthDelimited) {
					r.skip(wt, no);
					continue;
				}
				const d = new BinaryReader(r.bytes());
				let seconds = 0;
				let nanos = 0;
				while (d.pos < d.len) {
					const [dno, dwt] = d.tag();
					if (dno === 1 && dwt === WireType.Varint) seconds = Number(d.int64());
					else if (dno === 2 && dwt === WireType.Varint) nanos = d.int32();
					else d.skip(dwt, dno);
				}
				return Math.max(1, Math.ceil(seconds + nanos / 1e9));
			}
		}
	} catch {
		// Fall through to the header.
	}
	const header = Number(err.metadata.get('Retry-After'));
	return Number.isFinite(header) && header > 0 ? Math.ceil(header) : undefined;
}

/** What a form shows for a failed call: one message, and per-field messages. */
export interface FormError {
	message: string;
	/** By proto field name (snake_case), e.g. { email: 'value must be a valid email' }. */
	fields: Record<string, string>;
	/** For rate limits (ResourceExhausted): seconds until a retry may succeed. */
	retryAfter?: number;
}

/**
 * Turns a failed call into what a form shows. InvalidArgument with field violations
 * marks those fields; a field the form does not show still appears in the message.
 * shownFields lists the fields the form can mark.
 */
export function formError(err: unknown, shownFields: string[] = []): FormError {
	const ce = ConnectError.from(err);
	if (ce.code === Code.InvalidArgument) {
		const fields = violationsByField(fieldViolations(ce));
		const shown: Record<string, string> = {};
		const other: string[] = [];
		for (const [field, description] of Object.entries(fields)) {
			if (shownFields.includes(field)) shown[field] = description;
			else other.push(`${field.replace(/_/g, ' ')}: ${description}`);
		}
		if (Object.keys(fields).length > 0) {
			const message = other.length > 0 ? other.join('; ') : 'Please correct the marked fields.';
			return { message, fields: shown };
		}
	}
	if (ce.code === Code.Unauthenticated && ce.rawMessage) {
		return { message: ce.rawMessage, fields: {} };
	}
	if (ce.code === Code.ResourceExhausted) {
		return { message: describeError(ce), fields: {}, retryAfter: retryAfterSeconds(ce) };
	}
	const message = describeError(ce);
	return { message: message.charAt(0).toUpperCase() + message.slice(1), fields: {} };
}
