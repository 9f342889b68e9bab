import { ApiError, clearToken, getToken, onUnauthorized } from './api.js';
import { h, replace } from './components/dom.js';
import { notificationRegion } from './components/notify.js';
import { clearAllDrafts } from './drafts.js';
import { clearSession, currentActor, onSession, refreshSession } from './session.js';
import { interceptLinks, match, navigate, onNavigate, type Route } from './router.js';
import { apiPageView } from './views/api-page.js';
import { apiCreateView } from './views/api-form.js';
import { apisView } from './views/apis.js';
import { auditView } from './views/audit.js';
import { certificatesView } from './views/certificates.js';
import { clusterView } from './views/cluster.js';
import { consumersView } from './views/consumers.js';
import { notFoundView } from './views/not-found.js';
import { signInView } from './views/sign-in.js';
import { tokensView } from './views/tokens.js';
import { variablesView } from './views/variables.js';

const routes: Route[] = [
  { pattern: '/sign-in', view: signInView, public: true },
  { pattern: '/apis', view: apisView },
  { pattern: '/apis/new', view: apiCreateView },
  { pattern: '/apis/:id/:tab', view: apiPageView },
  { pattern: '/variables', view: variablesView },
  { pattern: '/certificates', view: certificatesView },
  { pattern: '/consumers', view: consumersView },
  { pattern: '/cluster', view: clusterView },
  { pattern: '/audit', view: auditView },
  { pattern: '/tokens', view: tokensView },
];

/** Builds the page shell (skip link, header with navigation, main, notifications) and starts routing. */
export function startApp(mount: HTMLElement): void {
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    h('a', { href: '/apis', dataset: { section: 'apis' } }, 'APIs'),
    h('a', { href: '/variables', dataset: { section: 'variables' } }, 'Variables'),
    h('a', { href: '/certificates', dataset: { section: 'certificates' } }, 'Certificates'),
    h('a', { href: '/consumers', dataset: { section: 'consumers' } }, 'Consumers'),
    h('a', { href: '/cluster', dataset: { section: 'cluster' } }, 'Cluster'),
    h('a', { href: '/audit', dataset: { section: 'audit' } }, 'Audit'),
    h('a', { href: '/tokens', dataset: { section: 'tokens' }, hidden: true }, 'Tokens'),
  );
  // Only admins manage tokens; other roles do not see the link (the page itself says it needs the role).
  const tokensLink = nav.querySelector<HTMLAnchorElement>('a[data-section="tokens"]')!;
  const signOut = h('button', { type: 'button', class: 'btn btn-small btn-quiet sign-out' }, 'Sign out');
  // Who is signed in, so an operator sharing a screen knows which token acts (and the audit log names it).
  const who = h('span', { class: 'who', 'aria-live': 'polite' });
  onSession((actor) => {
    who.textContent = actor ? `${actor.name} · ${actor.role}` : '';
    who.title = actor ? `Signed in with the admin token "${actor.name}" (role: ${actor.role})` : '';
    tokensLink.hidden = actor?.role !== 'admin';
  });
  const main = h('main', { id: 'main', tabindex: '-1' });
  const header = h(
    'header',
    { class: 'topbar' },
    h(
      'div',
      { class: 'topbar-inner' },
      h('a', { class: 'brand', href: '/apis' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'isogate'),
      nav,
      who,
      signOut,
    ),
  );
  replace(mount, h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'), header, main, notificationRegion());

  signOut.addEventListener('click', () => {
    clearToken();
    clearSession();
    clearAllDrafts();
    navigate('/sign-in', { replace: true });
  });
  // The skip link targets #main; handled here so the router does not treat it as a navigation.
  mount.querySelector('.skip-link')!.addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });

  // Any 401 means the token is gone or wrong: back to sign-in, then back here. Drafts stay.
  onUnauthorized(() => {
    clearSession();
    const next = location.pathname + location.search;
    if (location.pathname !== '/sign-in')
      navigate(`/sign-in?expired=1&next=${encodeURIComponent(next)}`, { replace: true });
  });

  let controller: AbortController | null = null;
  let first = true;
  const render = () => {
    controller?.abort();
    controller = new AbortController();
    const path = location.pathname.replace(/\/+$/, '') || '/';
    const query = new URLSearchParams(location.search);
    const found = match(routes, path);
    if (path === '/' || (found === null && /^\/apis\/[^/]+$/.test(path))) {
      // `/` and `/apis/:id` are shortcuts to the main pages.
      navigate(path === '/' ? '/apis' : `${path}/nodes`, { replace: true });
      return;
    }
    if (!found?.route.public && !getToken()) {
      navigate(`/sign-in?next=${encodeURIComponent(path + location.search)}`, { replace: true });
      return;
    }
    const signedIn = getToken() !== null && path !== '/sign-in';
    if (signedIn && currentActor() === null) {
      // The role decides what each page offers: learn it before the first page renders.
      refreshSession().then(render, (err: unknown) => {
        // A 401 has already sent the user to sign-in; anything else is shown where the page would be.
        if (err instanceof ApiError && err.status === 401) return;
        main.replaceChildren(
          h('div', { class: 'form-error', role: 'alert' }, err instanceof ApiError ? err.message : String(err)),
        );
      });
      return;
    }
    nav.hidden = !signedIn;
    signOut.hidden = !signedIn;
    who.hidden = !signedIn;
    for (const a of nav.querySelectorAll<HTMLAnchorElement>('a')) {
      if (path.startsWith(`/${a.dataset.section}`)) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    main.replaceChildren();
    const view = found?.route.view ?? notFoundView;
    const result = view({ root: main, params: found?.params ?? {}, query, signal: controller.signal });
    // Move focus to the new page's heading so screen readers announce it; not on the first load.
    if (!first) {
      const heading = main.querySelector<HTMLElement>('h1');
      if (heading) {
        heading.tabIndex = -1;
        heading.focus({ preventScroll: true });
      }
      window.scrollTo(0, 0);
    }
    first = false;
    void Promise.resolve(result).catch((err: unknown) => {
      // Views handle their own errors; anything left is a bug worth seeing in the page, not only the console.
      main.appendChild(
        h(
          'div',
          { class: 'form-error', role: 'alert' },
          `This page failed: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    });
  };
  onNavigate(render);
  interceptLinks();
  render();
}
