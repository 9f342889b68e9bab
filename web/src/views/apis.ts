import { admin, errorText, isAbort, paths } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { cell } from '../components/table.js';
import { notify } from '../components/notify.js';
import { confirmWithImpact, impactText } from '../impact.js';
import { plural } from '../format.js';
import type { ViewContext } from '../router.js';
import type { ApiSummary } from '../types.js';
import { can, gate } from '../session.js';
import { availabilityBadge, trafficText } from './availability.js';
import { algorithmTitle, methodsText, routeText, selectorBadge } from './words-ui.js';

/** The APIs page: every API with its route, algorithm, node counts, whether it can take traffic, its last minute and selector state. */
export async function apisView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'APIs · isogate';
  const body = h('div', { class: 'loading', role: 'status' }, 'Loading APIs…');
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h(
        'div',
        { class: 'page-head' },
        h('h1', null, 'APIs'),
        can('editor') ? h('a', { class: 'btn btn-primary', href: '/apis/new' }, 'New API') : null,
      ),
      h('p', { class: 'lead' }, 'An API publishes a route and balances its requests over its nodes.'),
      body,
    ),
  );

  async function load(): Promise<void> {
    try {
      const apis = await admin.listApis({ signal });
      replace(body, apis.length === 0 ? emptyState() : table(apis));
      body.className = '';
      body.removeAttribute('role');
    } catch (err) {
      if (isAbort(err)) return;
      replace(body, loadErrorBox(err));
    }
  }

  function table(apis: ApiSummary[]): HTMLElement {
    return h(
      'table',
      { class: 'table table-cards' },
      h('caption', { class: 'sr-only' }, 'APIs'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Name', 'Route', 'Algorithm', 'Nodes', 'State', 'Last minute', 'Selector'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
        ),
      ),
      h(
        'tbody',
        null,
        apis.map((api) => {
          const del = gate(
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-small btn-quiet btn-danger-text',
                'aria-label': `Delete API ${api.name}`,
              },
              'Delete',
            ),
            'editor',
          );
          del.addEventListener('click', () => void remove(api, del));
          const { enabled, total } = api.nodeCounts;
          return h(
            'tr',
            { dataset: { api: api.name } },
            cell('Name', [h('a', { class: 'strong', href: `/apis/${encodeURIComponent(api.id)}/nodes` }, api.name)]),
            cell('Route', [
              h('code', null, routeText(api)),
              h('div', { class: 'muted small' }, methodsText(api.methods)),
            ]),
            cell('Algorithm', [algorithmTitle(api.algorithm)]),
            cell(
              'Nodes',
              [h('span', { class: enabled === 0 && total > 0 ? 'text-warn' : '' }, `${enabled} / ${total} enabled`)],
              { class: 'node-counts' },
            ),
            cell(
              'State',
              [
                availabilityBadge(api.availability),
                h('div', { class: 'muted small' }, `${api.availability.usable} take traffic`),
              ],
              { class: 'api-state', dataset: { state: api.availability.state } },
            ),
            cell('Last minute', [trafficText(api.traffic.lastMinute)], { class: 'api-traffic' }),
            cell('Selector', [selectorBadge(api.selectorState)]),
            h(
              'td',
              { class: 'row-actions' },
              can('editor')
                ? h(
                    'a',
                    {
                      class: 'btn btn-small btn-quiet',
                      href: `/apis/${encodeURIComponent(api.id)}/settings`,
                      'aria-label': `Edit API ${api.name}`,
                    },
                    'Edit',
                  )
                : null,
              del,
            ),
          );
        }),
      ),
    );
  }

  async function remove(api: ApiSummary, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      // A dry run first, as a node delete does: the dialog says what it would do to traffic.
      const { go, impact } = await confirmWithImpact({
        method: 'DELETE',
        path: paths.api(api.id),
        title: `Delete the API “${api.name}”?`,
        message: h(
          'p',
          null,
          goesWith(api),
          'Requests to ',
          h('code', null, routeText(api)),
          ' get ROUTE_NOT_FOUND (404) from the next request on.',
        ),
        confirmLabel: 'Delete API',
        always: true,
        danger: true,
      });
      if (!go) {
        button.disabled = false;
        return;
      }
      await admin.deleteApi(api.id);
      await load();
      notify(`API ${api.name} deleted.${impactText(impact)}`);
    } catch (err) {
      button.disabled = false;
      notify(errorText(err), 'error');
    }
  }

  await load();
}

/** "Its 2 nodes and its selector are deleted with it. " (nothing when it has neither). */
function goesWith(api: ApiSummary): string {
  const total = api.nodeCounts.total;
  const parts = total === 0 ? [] : [total === 1 ? 'its node' : `its ${plural(total, 'node')}`];
  if (api.selectorState !== 'none') parts.push('its selector');
  if (parts.length === 0) return '';
  const text = parts.join(' and ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)} ${parts.length === 1 && total === 1 ? 'is' : 'are'} deleted with it. `;
}

function emptyState(): HTMLElement {
  return h(
    'div',
    { class: 'empty card' },
    h('h2', null, 'No APIs yet'),
    h('p', null, 'Create an API with its route (host, methods, path) and algorithm, then add its nodes.'),
    can('editor') ? h('a', { class: 'btn btn-primary', href: '/apis/new' }, 'Create your first API') : null,
  );
}
