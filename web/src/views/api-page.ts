import { admin, ApiError, CONFIG_CHANGED, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { every, type ViewContext } from '../router.js';
import type { Api } from '../types.js';
import { accessPanel } from './access.js';
import { apiSettingsPanel } from './api-form.js';
import { nodesPanel } from './nodes.js';
import { notFoundView } from './not-found.js';
import { selectorPanel } from './selector.js';
import { trafficPanel } from './traffic.js';
import { outageBanner } from './availability.js';
import { algorithmTitle, methodsText, routeText } from './words-ui.js';

const BANNER_EVERY_MS = 3000;

const TABS = [
  { tab: 'nodes', title: 'Nodes' },
  { tab: 'traffic', title: 'Traffic' },
  { tab: 'selector', title: 'Selector' },
  { tab: 'access', title: 'Access' },
  { tab: 'settings', title: 'Settings' },
] as const;

/** `/apis/:id/:tab`: one API's header and its Nodes, Traffic, Selector or Settings tab. */
export async function apiPageView(ctx: ViewContext): Promise<void> {
  const { root, params, signal } = ctx;
  const tab = TABS.find((t) => t.tab === params.tab);
  if (!tab) return notFoundView(ctx);
  const id = params.id!;
  const title = h('h1', null, 'API');
  const summary = h('p', { class: 'api-summary muted' });
  const banner = h('div', { class: 'banner-host' });
  const content = h('div', { class: 'tab-content' }, h('div', { class: 'loading', role: 'status' }, 'Loading…'));
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'API sections' },
    TABS.map((t) =>
      h(
        'a',
        { href: `/apis/${encodeURIComponent(id)}/${t.tab}`, 'aria-current': t.tab === tab.tab ? 'page' : undefined },
        t.title,
      ),
    ),
  );
  const crumbName = h('span', { 'aria-current': 'page' }, '…');
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h(
        'nav',
        { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        h('a', { href: '/apis' }, 'APIs'),
        h('span', { 'aria-hidden': 'true' }, ' / '),
        crumbName,
      ),
      h('div', { class: 'page-head' }, title),
      summary,
      banner,
      tabs,
      content,
    ),
  );

  const showApi = (api: Api) => {
    title.textContent = api.name;
    crumbName.textContent = api.name;
    document.title = `${api.name} · ${tab.title} · isogate`;
    replace(
      summary,
      h('code', null, routeText(api)),
      ` · ${methodsText(api.methods)} · ${algorithmTitle(api.algorithm)}`,
    );
  };

  let api: Api;
  try {
    api = await admin.getApi(id, { signal });
  } catch (err) {
    if (isAbort(err)) return;
    if (err instanceof ApiError && err.code === 'API_NOT_FOUND') {
      title.textContent = 'API not found';
      crumbName.textContent = 'Not found';
      tabs.remove();
      replace(
        content,
        h(
          'p',
          null,
          'There is no API with this id; it may have been deleted. ',
          h('a', { href: '/apis' }, 'Back to the APIs'),
          '.',
        ),
      );
      return;
    }
    replace(content, loadErrorBox(err));
    return;
  }
  showApi(api);
  // The outage banner shows on every tab and follows flips made anywhere (issue 17).
  const showBanner = async () => replace(banner, outageBanner(await admin.availability(id, { signal })));
  void showBanner().catch(() => undefined);
  every(BANNER_EVERY_MS, signal, showBanner);
  document.addEventListener(CONFIG_CHANGED, () => void showBanner().catch(() => undefined), { signal });
  if (tab.tab === 'nodes') await nodesPanel(content, api, signal);
  else if (tab.tab === 'traffic') await trafficPanel(content, api, signal);
  else if (tab.tab === 'selector') await selectorPanel(content, api, signal);
  else if (tab.tab === 'access') accessPanel(content, api);
  else apiSettingsPanel(content, api, showApi);
}
