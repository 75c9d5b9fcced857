import { redirect } from '@sveltejs/kit';

// A new user lands where the life is: the live lobby (the System page is one click away).
export function load() {
	redirect(307, '/lobby');
}
