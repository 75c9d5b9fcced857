// A counter that moves whenever the page's colours may have changed (the theme toggle
// writes <html data-theme>, or the OS switches between light and dark), so charts that
// copied CSS colours into canvas styles can read them again. One observer for the page.
let version = $state(0);
let watching = false;

function watch() {
	if (watching || typeof document === 'undefined') return;
	watching = true;
	new MutationObserver(() => version++).observe(document.documentElement, {
		attributes: true,
		attributeFilter: ['data-theme', 'class', 'style']
	});
	matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => version++);
}

/** The current colour version; reading it in an $effect re-runs the effect on a change. */
export function themeVersion(): number {
	watch();
	return version;
}
