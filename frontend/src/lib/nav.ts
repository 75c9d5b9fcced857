// The app's top-level pages, in navigation order. Pages that do not work yet show an
// empty state saying what they will bring.
import type { RouteId } from '$app/types';

export interface NavItem {
	/** Route of the page (one without parameters); links go through resolve() from $app/paths. */
	route: Exclude<RouteId, `${string}[${string}`>;
	label: string;
}

export const navItems: NavItem[] = [
	{ route: '/lobby', label: 'Lobby' },
	{ route: '/rooms', label: 'Rooms' },
	{ route: '/simulator', label: 'Simulator' },
	{ route: '/sense', label: 'Sense' },
	{ route: '/system', label: 'System' },
	{ route: '/settings', label: 'Settings' }
];

/** Reports whether routeId (page.route.id) is item's page or below it. */
export function isActive(item: NavItem, routeId: string | null): boolean {
	return routeId !== null && (routeId === item.route || routeId.startsWith(item.route + '/'));
}
