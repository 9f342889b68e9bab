import { h } from './dom.js';

let region: HTMLElement | null = null;

/** The polite live region and toast stack; created once by the app shell. */
export function notificationRegion(): HTMLElement {
  region ??= h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  return region;
}

/**
 * Tells the user that something happened ("Node ip1-a disabled"): read out by screen readers and
 * shown for a few seconds. Errors use `kind: 'error'` and stay longer.
 */
export function notify(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const stack = notificationRegion();
  const toast = h('div', { class: `toast toast-${kind}` }, text);
  stack.appendChild(toast);
  // Keep the stack short: a burst of clicks should not cover the page.
  while (stack.children.length > 3) stack.firstElementChild?.remove();
  setTimeout(() => toast.remove(), kind === 'error' ? 8000 : 3500);
}
