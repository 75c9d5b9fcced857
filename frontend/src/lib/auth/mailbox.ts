// The development mailbox (SENSOCTO_DEV=true): the server keeps the last emails it "sent"
// and serves them as JSON. The shape is read defensively: field names in camelCase or
// snake_case, body as text or body, and anything missing shown as empty.

/** Where the server serves the mailbox JSON (asked with Accept: application/json). */
export const mailboxUrl = '/dev/mailbox';

export interface MailboxMessage {
	id: string;
	to: string;
	subject: string;
	text: string;
	/** The message's main link (a magic link), if any. */
	link: string;
	sentAt: Date | undefined;
}

function str(v: unknown): string {
	return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

/** Turns the server's JSON into messages, newest first; anything unexpected is skipped. */
export function parseMailbox(data: unknown): MailboxMessage[] {
	const list = Array.isArray(data)
		? data
		: data && typeof data === 'object' && Array.isArray((data as { messages?: unknown }).messages)
			? (data as { messages: unknown[] }).messages
			: [];
	const out: MailboxMessage[] = [];
	list.forEach((raw, i) => {
		if (!raw || typeof raw !== 'object') return;
		const m = raw as Record<string, unknown>;
		const sent = str(m.sentAt ?? m.sent_at);
		const date = sent ? new Date(sent) : undefined;
		out.push({
			id: str(m.id) || String(i),
			to: str(m.to),
			subject: str(m.subject),
			text: str(m.text ?? m.body),
			link: str(m.link),
			sentAt: date && !Number.isNaN(date.getTime()) ? date : undefined
		});
	});
	return out.sort((a, b) => (b.sentAt?.getTime() ?? 0) - (a.sentAt?.getTime() ?? 0));
}

/** Splits text into plain and http(s) link parts, so links can be rendered clickable. */
export function linkify(text: string): { text: string; href?: string }[] {
	const parts: { text: string; href?: string }[] = [];
	const re = /https?:\/\/[^\s<>"']+/g;
	let last = 0;
	for (const m of text.matchAll(re)) {
		const i = m.index ?? 0;
		if (i > last) parts.push({ text: text.slice(last, i) });
		parts.push({ text: m[0], href: m[0] });
		last = i + m[0].length;
	}
	if (last < text.length) parts.push({ text: text.slice(last) });
	return parts;
}
