// Join codes as people type, paste or scan them: 8 letters and digits (the server's codes
// use "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" and compare case-insensitively), or a join link
// ".../join/<code>" (the invite's link and QR code).

/** The code in text (a code with spaces or dashes, or a join link), upper-cased; or undefined. */
export function joinCodeFrom(text: string): string | undefined {
	const t = text.trim();
	const link = /\/join\/([A-Za-z0-9]{8})\/?(?:[?#].*)?$/.exec(t);
	if (link) return link[1].toUpperCase();
	const bare = t.replace(/[\s-]/g, '');
	return /^[A-Za-z0-9]{8}$/.test(bare) ? bare.toUpperCase() : undefined;
}
