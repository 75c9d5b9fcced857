/* eslint-disable svelte/prefer-svelte-reactivity -- plain Maps and Sets here are deliberate: bookkeeping and buffers that must not trigger renders; what the UI reads is in $state or SvelteSet. */
// AttentionReporter tells the server what this browser tab looks at, through
// AttentionService.ReportAttention: tiles entering and leaving the viewport
// (IntersectionObserver), hover (the server keeps HIGH for 2 s after HOVER_LEAVE, so no
// client-side linger), focus and click, pins, page visibility and the device battery.
// Events are batched (every flushMs or when maxBatch are queued) and a heartbeat renews
// the tab's leases at lease_ms / 3. After a failed report the next successful one
// re-sends the whole current state, in case the server dropped the tab's lease meanwhile.
//
// Tiles, lens panels and the sensor page's cards use the one Svelte action:
// `use:reporter.attention={{ sensorId, attributeId }}`. It makes the element focusable by
// click (tabindex -1 when it has none), so DOM focus and the reported FOCUS agree: a click
// or Tab onto anything inside reports FOCUS, and focus leaving it (a click elsewhere, Tab
// out) reports UNFOCUS. A page about one sensor can set a base focus that returns when
// nothing else is focused (setBaseFocus).
import type { Client } from '@connectrpc/connect';
import { create } from '@bufbuild/protobuf';
import { createContext } from 'svelte';
import { SvelteSet } from 'svelte/reactivity';
import {
	AttentionEventKind as Kind,
	AttentionEventSchema,
	type AttentionEvent,
	type AttentionService
} from '$lib/gen/sensocto/v1/attention_pb';
import { describeError } from '$lib/api/errors';
import { MAX_ATTENTION_EVENTS } from '$lib/gen/limits';

export interface AttentionTarget {
	sensorId: string;
	/** Empty or absent: the whole sensor. */
	attributeId?: string;
}

export interface ReporterOptions {
	tabId?: string;
	flushMs?: number;
	maxBatch?: number;
	/** Heartbeat interval before the server told the lease (ms). */
	defaultLeaseMs?: number;
	/** Whether to use browser APIs (IntersectionObserver, document, navigator.getBattery). */
	browser?: boolean;
}

interface BatteryLike extends EventTarget {
	level: number;
	charging: boolean;
}

const TAB_KEY = 'sensocto:tab-id';

/** A random tab id kept for the life of the tab (sessionStorage), 22 url-safe characters. */
export function tabId(): string {
	try {
		const saved = sessionStorage.getItem(TAB_KEY);
		if (saved && /^[A-Za-z0-9_-]{8,64}$/.test(saved)) return saved;
	} catch {
		// No sessionStorage (private mode, tests): a fresh id per reporter.
	}
	const bytes = crypto.getRandomValues(new Uint8Array(16));
	const id = btoa(String.fromCharCode(...bytes))
		.replace(/\+/g, '-')
		.replace(/\//g, '_')
		.replace(/=+$/, '');
	try {
		sessionStorage.setItem(TAB_KEY, id);
	} catch {
		// Not kept; fine.
	}
	return id;
}

function key(t: AttentionTarget): string {
	return `${t.sensorId}\u0000${t.attributeId ?? ''}`;
}

function unkey(k: string): AttentionTarget {
	const [sensorId, attributeId] = k.split('\u0000');
	return { sensorId, attributeId };
}

export class AttentionReporter {
	readonly tabId: string;
	/** Sensors with at least one element in the viewport (reactive). */
	readonly visibleSensors = new SvelteSet<string>();
	/** Pinned sensors of this tab (reactive). */
	readonly pinned = new SvelteSet<string>();
	/** Lease the server asked for (ms). */
	leaseMs = $state(0);
	/** Reports sent successfully (a test aid). */
	sent = $state(0);
	/** Why the last report failed, until one succeeds. */
	error = $state<string | undefined>(undefined);
	/** Whether the page is hidden. */
	hidden = $state(false);
	/**
	 * The focused target's sensor, if any. Not reactive on purpose: focus events fire while
	 * Svelte moves elements (a focused tile re-sorted), where writing state is refused.
	 */
	get focusedSensor(): string | undefined {
		return this.#focused === undefined ? undefined : unkey(this.#focused).sensorId;
	}

	readonly #client: Client<typeof AttentionService>;
	readonly #flushMs: number;
	readonly #maxBatch: number;
	readonly #browser: boolean;
	#queue: AttentionEvent[] = [];
	#flushTimer: ReturnType<typeof setTimeout> | undefined;
	#heartbeat: ReturnType<typeof setTimeout> | undefined;
	#inflight: Promise<void> | undefined;
	#resync = false;
	#stopped = true;
	#battery: { level: number; charging: boolean } | undefined;
	// Reference counts per target key: several elements may show one target.
	#viewCount = new Map<string, number>();
	#hoverCount = new Map<string, number>();
	#focused: string | undefined;
	#baseFocus: string | undefined;
	#observer: IntersectionObserver | undefined;
	#elements = new Map<Element, { target: AttentionTarget; visible: boolean }>();
	#cleanups: (() => void)[] = [];

	constructor(client: Client<typeof AttentionService>, options: ReporterOptions = {}) {
		this.#client = client;
		this.tabId = options.tabId ?? tabId();
		this.#flushMs = options.flushMs ?? 250;
		this.#maxBatch = options.maxBatch ?? 50;
		this.leaseMs = options.defaultLeaseMs ?? 30_000;
		this.#browser = options.browser ?? typeof document !== 'undefined';
		this.attention = this.attention.bind(this);
	}

	/** Starts heartbeats and the page-level listeners (visibility, battery). */
	start(): void {
		if (!this.#stopped) return;
		this.#stopped = false;
		if (this.#browser) this.#listenPage();
		this.#schedule(0);
	}

	/**
	 * Sends what is queued and stops. Views are left as they are: the lease ends them.
	 * With send false (signed out: every report would be refused) it sends nothing more.
	 */
	stop(send = true): void {
		if (!send) {
			this.#queue = [];
			this.#resync = false;
		}
		if (this.#stopped) return;
		this.#stopped = true;
		clearTimeout(this.#flushTimer);
		clearTimeout(this.#heartbeat);
		this.#flushTimer = undefined;
		for (const fn of this.#cleanups.splice(0)) fn();
		this.#observer?.disconnect();
		this.#observer = undefined;
		if (send) void this.flush();
	}

	/** Stops without sending more and resolves when a report in flight has ended. */
	async halt(): Promise<void> {
		this.stop(false);
		while (this.#inflight) await this.#inflight;
	}

	// ---- events ------------------------------------------------------------------------

	viewEnter(t: AttentionTarget): void {
		if (inc(this.#viewCount, key(t)) === 1) {
			this.#push(Kind.VIEW_ENTER, t);
			this.#recountVisible();
		}
	}

	viewLeave(t: AttentionTarget): void {
		if (dec(this.#viewCount, key(t)) === 0) {
			this.#push(Kind.VIEW_LEAVE, t);
			this.#recountVisible();
		}
	}

	hoverEnter(t: AttentionTarget): void {
		if (inc(this.#hoverCount, key(t)) === 1) this.#push(Kind.HOVER_ENTER, t);
	}

	hoverLeave(t: AttentionTarget): void {
		if (dec(this.#hoverCount, key(t)) === 0) this.#push(Kind.HOVER_LEAVE, t);
	}

	/** Focuses one target (one at a time per tab); the previous one is unfocused. */
	focus(t: AttentionTarget): void {
		const k = key(t);
		if (this.#focused === k) return;
		if (this.#focused !== undefined) this.#push(Kind.UNFOCUS, unkey(this.#focused));
		this.#focused = k;
		this.#push(Kind.FOCUS, t);
	}

	/** Ends the focus (of t only, when given); the base focus, if any, comes back. */
	unfocus(t?: AttentionTarget): void {
		if (this.#focused === undefined) return;
		if (t && key(t) !== this.#focused) return;
		if (this.#focused === this.#baseFocus) return;
		this.#push(Kind.UNFOCUS, unkey(this.#focused));
		this.#focused = undefined;
		if (this.#baseFocus !== undefined) this.focus(unkey(this.#baseFocus));
	}

	/**
	 * The target focused whenever no element is (a page about one sensor); undefined ends
	 * it. Returns a function that clears it again.
	 */
	setBaseFocus(t: AttentionTarget | undefined): () => void {
		const k = t ? key(t) : undefined;
		const prev = this.#baseFocus;
		this.#baseFocus = k;
		if (k !== undefined && this.#focused === undefined) this.focus(unkey(k));
		else if (k === undefined && prev !== undefined && this.#focused === prev) {
			this.#push(Kind.UNFOCUS, unkey(prev));
			this.#focused = undefined;
		}
		return () => {
			if (this.#baseFocus === k) this.setBaseFocus(undefined);
		};
	}

	pin(sensorId: string): void {
		if (this.pinned.has(sensorId)) return;
		this.pinned.add(sensorId);
		this.#push(Kind.PIN, { sensorId });
	}

	unpin(sensorId: string): void {
		if (!this.pinned.delete(sensorId)) return;
		this.#push(Kind.UNPIN, { sensorId });
	}

	togglePin(sensorId: string): void {
		if (this.pinned.has(sensorId)) this.unpin(sensorId);
		else this.pin(sensorId);
	}

	pageHidden(hidden: boolean): void {
		if (this.hidden === hidden) return;
		this.hidden = hidden;
		this.#push(hidden ? Kind.PAGE_HIDDEN : Kind.PAGE_VISIBLE, { sensorId: '' });
	}

	battery(level: number, charging: boolean): void {
		const l = Math.min(1, Math.max(0, level));
		if (this.#battery && this.#battery.level === l && this.#battery.charging === charging) return;
		this.#battery = { level: l, charging };
		this.#queue.push(
			create(AttentionEventSchema, {
				kind: Kind.BATTERY,
				batteryLevel: l,
				batteryCharging: charging
			})
		);
		this.#afterPush();
	}

	/** Events waiting to be sent (a test aid). */
	get queued(): number {
		return this.#queue.length;
	}

	#push(kind: Kind, t: AttentionTarget): void {
		this.#queue.push(
			create(AttentionEventSchema, { kind, sensorId: t.sensorId, attributeId: t.attributeId ?? '' })
		);
		this.#afterPush();
	}

	#afterPush(): void {
		if (this.#stopped) return;
		if (this.#queue.length >= this.#maxBatch) void this.flush();
		else if (!this.#flushTimer)
			this.#flushTimer = setTimeout(() => void this.flush(), this.#flushMs);
	}

	#recountVisible(): void {
		const now = new Set<string>();
		for (const [k, n] of this.#viewCount) if (n > 0) now.add(unkey(k).sensorId);
		for (const id of [...this.visibleSensors]) if (!now.has(id)) this.visibleSensors.delete(id);
		for (const id of now) if (!this.visibleSensors.has(id)) this.visibleSensors.add(id);
	}

	/** The whole current state as events (after a failure, the lease may have ended). */
	#snapshot(): AttentionEvent[] {
		const ev: AttentionEvent[] = [];
		const add = (kind: Kind, t: AttentionTarget) =>
			ev.push(
				create(AttentionEventSchema, {
					kind,
					sensorId: t.sensorId,
					attributeId: t.attributeId ?? ''
				})
			);
		if (this.hidden) add(Kind.PAGE_HIDDEN, { sensorId: '' });
		for (const [k, n] of this.#viewCount) if (n > 0) add(Kind.VIEW_ENTER, unkey(k));
		for (const [k, n] of this.#hoverCount) if (n > 0) add(Kind.HOVER_ENTER, unkey(k));
		if (this.#focused) add(Kind.FOCUS, unkey(this.#focused));
		for (const id of this.pinned) add(Kind.PIN, { sensorId: id });
		if (this.#battery)
			ev.push(
				create(AttentionEventSchema, {
					kind: Kind.BATTERY,
					batteryLevel: this.#battery.level,
					batteryCharging: this.#battery.charging
				})
			);
		return ev;
	}

	/** Sends the queued events now (or a heartbeat when none). Resolves when done. */
	async flush(): Promise<void> {
		clearTimeout(this.#flushTimer);
		this.#flushTimer = undefined;
		while (this.#inflight) await this.#inflight;
		const events = this.#resync ? this.#snapshot() : this.#queue.splice(0, MAX_ATTENTION_EVENTS);
		if (this.#resync) this.#queue = [];
		const p = this.#send(events);
		this.#inflight = p;
		await p;
		this.#inflight = undefined;
		if (this.#queue.length > 0 && !this.#stopped) this.#afterPush();
	}

	async #send(events: AttentionEvent[]): Promise<void> {
		try {
			const res = await this.#client.reportAttention({ tabId: this.tabId, events });
			if (res.leaseMs > 0) this.leaseMs = res.leaseMs;
			this.#resync = false;
			this.error = undefined;
			this.sent++;
		} catch (err) {
			this.error = describeError(err);
			// Whatever the server has of this tab may be gone when it answers again.
			this.#resync = true;
		}
		this.#schedule(this.error ? Math.min(5000, this.leaseMs / 3) : this.leaseMs / 3);
	}

	#schedule(ms: number): void {
		clearTimeout(this.#heartbeat);
		if (this.#stopped) return;
		this.#heartbeat = setTimeout(() => void this.flush(), ms);
	}

	// ---- browser wiring ----------------------------------------------------------------

	/**
	 * The events that end this tab's current views, hovers, focus and pins, as Connect JSON
	 * (enum names), for a beacon when the page goes away: the next page load keeps the same
	 * tab id, and must not inherit views of elements that no longer exist.
	 */
	goodbyeJson(): string {
		const events: { sensorId: string; attributeId: string; kind: string }[] = [];
		const add = (kind: string, k: string) => {
			const t = unkey(k);
			events.push({ sensorId: t.sensorId, attributeId: t.attributeId ?? '', kind });
		};
		for (const [k, n] of this.#viewCount) if (n > 0) add('ATTENTION_EVENT_KIND_VIEW_LEAVE', k);
		for (const [k, n] of this.#hoverCount) if (n > 0) add('ATTENTION_EVENT_KIND_HOVER_LEAVE', k);
		if (this.#focused) add('ATTENTION_EVENT_KIND_UNFOCUS', this.#focused);
		for (const id of this.pinned) add('ATTENTION_EVENT_KIND_UNPIN', key({ sensorId: id }));
		return JSON.stringify({ tabId: this.tabId, events: events.slice(0, MAX_ATTENTION_EVENTS) });
	}

	#listenPage(): void {
		// A reload or a navigation away: tell the server now instead of waiting for the
		// lease. sendBeacon survives the unload; it carries the session cookie.
		const onHide = (e: PageTransitionEvent) => {
			if (e.persisted || typeof navigator.sendBeacon !== 'function') return;
			const body = new Blob([this.goodbyeJson()], { type: 'application/json' });
			navigator.sendBeacon('/sensocto.v1.AttentionService/ReportAttention', body);
		};
		window.addEventListener('pagehide', onHide);
		this.#cleanups.push(() => window.removeEventListener('pagehide', onHide));

		const onVis = () => this.pageHidden(document.visibilityState === 'hidden');
		document.addEventListener('visibilitychange', onVis);
		this.#cleanups.push(() => document.removeEventListener('visibilitychange', onVis));
		if (document.visibilityState === 'hidden') this.pageHidden(true);

		const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
		if (typeof nav.getBattery === 'function') {
			nav
				.getBattery()
				.then((b) => {
					if (this.#stopped) return;
					const report = () => this.battery(b.level, b.charging);
					report();
					b.addEventListener('levelchange', report);
					b.addEventListener('chargingchange', report);
					this.#cleanups.push(() => {
						b.removeEventListener('levelchange', report);
						b.removeEventListener('chargingchange', report);
					});
				})
				.catch(() => {
					// Battery Status API refused (permissions policy): nothing to report.
				});
		}
	}

	#observe(el: Element): void {
		if (typeof IntersectionObserver === 'undefined') {
			// No observer (old browser): count the element as visible.
			const e = this.#elements.get(el);
			if (e && !e.visible) {
				e.visible = true;
				this.viewEnter(e.target);
			}
			return;
		}
		this.#observer ??= new IntersectionObserver(
			(entries) => {
				for (const entry of entries) {
					const e = this.#elements.get(entry.target);
					if (!e) continue;
					const visible = entry.isIntersecting && entry.intersectionRatio > 0;
					if (visible === e.visible) continue;
					e.visible = visible;
					if (visible) this.viewEnter(e.target);
					else this.viewLeave(e.target);
				}
			},
			{ threshold: [0, 0.1] }
		);
		this.#observer.observe(el);
	}

	/**
	 * Svelte action: reports viewport, hover and focus of the element for a sensor (or one
	 * of its attributes). `use:reporter.attention={{ sensorId, attributeId }}`.
	 */
	attention(node: HTMLElement, target: AttentionTarget) {
		let t = { ...target };
		let hovered = false;
		// Click-focusable (not a Tab stop: the links and buttons inside are), so that a click
		// on the element's body gives it DOM focus and a click elsewhere takes it away.
		const addedTabindex = !node.hasAttribute('tabindex');
		if (addedTabindex) node.tabIndex = -1;
		node.dataset.attention = '';
		this.#elements.set(node, { target: t, visible: false });
		this.#observe(node);
		const enter = () => {
			if (hovered) return;
			hovered = true;
			this.hoverEnter(t);
		};
		const leave = () => {
			if (!hovered) return;
			hovered = false;
			this.hoverLeave(t);
		};
		const focusIn = () => this.focus(t);
		const focusOut = (e: FocusEvent) => {
			if (e.relatedTarget instanceof Node && node.contains(e.relatedTarget)) return;
			this.unfocus(t);
		};
		node.addEventListener('pointerenter', enter);
		node.addEventListener('pointerleave', leave);
		node.addEventListener('focusin', focusIn);
		node.addEventListener('focusout', focusOut);
		node.addEventListener('click', focusIn);
		const detach = () => {
			const e = this.#elements.get(node);
			this.#observer?.unobserve(node);
			this.#elements.delete(node);
			if (e?.visible) this.viewLeave(e.target);
			leave();
			this.unfocus(t);
		};
		return {
			update: (next: AttentionTarget) => {
				if (key(next) === key(t)) return;
				detach();
				t = { ...next };
				this.#elements.set(node, { target: t, visible: false });
				this.#observe(node);
			},
			destroy: () => {
				detach();
				if (addedTabindex) node.removeAttribute('tabindex');
				delete node.dataset.attention;
				node.removeEventListener('pointerenter', enter);
				node.removeEventListener('pointerleave', leave);
				node.removeEventListener('focusin', focusIn);
				node.removeEventListener('focusout', focusOut);
				node.removeEventListener('click', focusIn);
			}
		};
	}
}

function inc(m: Map<string, number>, k: string): number {
	const n = (m.get(k) ?? 0) + 1;
	m.set(k, n);
	return n;
}

function dec(m: Map<string, number>, k: string): number {
	const n = m.get(k) ?? 0;
	if (n <= 1) {
		m.delete(k);
		return n === 1 ? 0 : -1;
	}
	m.set(k, n - 1);
	return n - 1;
}

const [getReporterContext, setReporterContext] = createContext<AttentionReporter>();
export { getReporterContext as getReporter, setReporterContext as setReporter };
