// A row that scrolls sideways (tabs, a phone's navigation) says so: the action marks the
// element with data-more-left / data-more-right while content lies beyond that edge, and
// the global styles of app.css (.scroll-row) fade that edge and show an arrow there. It also
// scrolls the current item (aria-current) into view, so the open tab is never cut off.
import type { Action } from 'svelte/action';

export const scrollHint: Action<HTMLElement> = (node) => {
	const update = () => {
		const max = node.scrollWidth - node.clientWidth;
		node.toggleAttribute('data-more-left', max > 1 && node.scrollLeft > 1);
		node.toggleAttribute('data-more-right', max > 1 && node.scrollLeft < max - 1);
	};
	const reveal = () => {
		const current = node.querySelector<HTMLElement>('[aria-current="page"]');
		if (!current) return;
		const left = current.offsetLeft - node.offsetLeft;
		if (left < node.scrollLeft || left + current.offsetWidth > node.scrollLeft + node.clientWidth)
			node.scrollLeft = Math.max(0, left - node.clientWidth / 3);
		update();
	};
	node.classList.add('scroll-row');
	node.addEventListener('scroll', update, { passive: true });
	const resize = new ResizeObserver(update);
	resize.observe(node);
	// Tabs come and go (a lens appears with its first sensor), the current one changes.
	const mutations = new MutationObserver(reveal);
	mutations.observe(node, { childList: true, subtree: true, attributeFilter: ['aria-current'] });
	reveal();
	return {
		destroy() {
			node.removeEventListener('scroll', update);
			resize.disconnect();
			mutations.disconnect();
		}
	};
};
