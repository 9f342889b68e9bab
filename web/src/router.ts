/** What a view gets: the URL's parameters, where to render, and a signal that fires when it is left. */
export interface ViewContext {
  root: HTMLElement;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the user navigates away: views stop polling and drop pending requests. */
  signal: AbortSignal;
}

/** A page of the console. */
export type View = (ctx: ViewContext) => void | Promise<void>;

/** A path pattern (`/apis/:id/nodes`) and its view. */
export interface Route {
  pattern: string;
  view: View;
  /** Pages reachable without a token (sign-in). */
  public?: boolean;
}

/** The route and parameters a path matches, or null. */
export function match(routes: readonly Route[], path: string): { route: Route; params: Record<string, string> } | null {
  const parts = path.split('/').filter(Boolean);
  for (const route of routes) {
    const pattern = route.pattern.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i++) {
      const p = pattern[i]!;
      const v = parts[i]!;
      if (p.startsWith(':')) {
        try {
          params[p.slice(1)] = decodeURIComponent(v);
        } catch {
          ok = false;
        }
      } else if (p !== v) ok = false;
      if (!ok) break;
    }
    if (ok) return { route, params };
  }
  return null;
}

type Listener = () => void;
const listeners: Listener[] = [];

/** Goes to a console path without reloading the page. */
export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const l of listeners) l();
}

/** Calls `listener` on every navigation (links, back/forward, `navigate`). */
export function onNavigate(listener: Listener): void {
  listeners.push(listener);
  window.addEventListener('popstate', listener);
}

/**
 * Lets plain `<a href="/...">` links navigate inside the page; modified clicks (new tab, download) and
 * links to `/admin` keep the browser's behaviour.
 */
export function interceptLinks(): void {
  document.addEventListener('click', (event) => {
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    )
      return;
    const a = (event.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const href = a.getAttribute('href');
    if (!href || !href.startsWith('/') || href.startsWith('//') || href.startsWith('/admin')) return;
    event.preventDefault();
    if (href !== location.pathname + location.search) navigate(href);
  });
}

/** Runs `fn` every `ms` while the view is open and the tab is visible; stops when the view is left. */
export function every(ms: number, signal: AbortSignal, fn: () => void | Promise<void>): void {
  let running = false;
  const timer = setInterval(() => {
    if (document.hidden || running) return;
    running = true;
    Promise.resolve(fn())
      .catch(() => undefined)
      .finally(() => {
        running = false;
      });
  }, ms);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
