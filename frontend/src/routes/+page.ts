import { redirect } from '@sveltejs/kit';

// The System page is the first working page; the lobby takes over once sensors stream.
export function load() {
	redirect(307, '/system');
}
