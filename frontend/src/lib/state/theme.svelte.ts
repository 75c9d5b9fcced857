// ThemeStore holds the colour theme: the user's choice (saved in localStorage) and the
// operating system's preference (prefers-color-scheme), which applies when there is no
// choice. The effective theme is written to <html data-theme> for the CSS.
import { createContext } from 'svelte';

export type ThemeChoice = 'system' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

const storageKey = 'sensocto-theme';

export class ThemeStore {
	/** What the user picked; 'system' follows the operating system. */
	choice = $state<ThemeChoice>('system');
	/** What the operating system prefers. */
	system = $state<Theme>('dark');
	/** The theme in effect. */
	theme = $derived<Theme>(this.choice === 'system' ? this.system : this.choice);

	#media: MediaQueryList | undefined;

	constructor() {
		if (typeof window === 'undefined') return;
		const saved = readChoice();
		if (saved) this.choice = saved;
		this.#media = window.matchMedia('(prefers-color-scheme: dark)');
		this.system = this.#media.matches ? 'dark' : 'light';
		this.#media.addEventListener('change', this.#onSystemChange);
	}

	#onSystemChange = (e: MediaQueryListEvent) => {
		this.system = e.matches ? 'dark' : 'light';
	};

	/** Switches to the other theme and remembers the choice. */
	toggle(): void {
		this.set(this.theme === 'dark' ? 'light' : 'dark');
	}

	/** Sets and saves a choice; 'system' forgets the saved one. */
	set(choice: ThemeChoice): void {
		this.choice = choice;
		try {
			if (choice === 'system') localStorage.removeItem(storageKey);
			else localStorage.setItem(storageKey, choice);
		} catch {
			// Storage may be unavailable (private mode); the choice holds for this visit.
		}
	}

	/** Writes the effective theme to the document; call from an effect. */
	apply(): void {
		document.documentElement.dataset.theme = this.theme;
		document.documentElement.style.colorScheme = this.theme;
	}

	/** Stops following the operating system preference. */
	destroy(): void {
		this.#media?.removeEventListener('change', this.#onSystemChange);
	}
}

function readChoice(): ThemeChoice | undefined {
	try {
		const v = localStorage.getItem(storageKey);
		return v === 'light' || v === 'dark' ? v : undefined;
	} catch {
		return undefined;
	}
}

const [getTheme, setTheme] = createContext<ThemeStore>();

/** The ThemeStore created by the root layout. */
export { getTheme, setTheme };
