import { admin, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { cell } from '../components/table.js';
import { dateTime, plural } from '../format.js';
import { every, type ViewContext } from '../router.js';
import type { ClusterProcessView, ClusterView } from '../types.js';

/** How often the page re-reads the cluster view (a heartbeat is every 5 s by default). */
const REFRESH_EVERY_MS = 2_000;

/** The Cluster page: every gateway and admin process registered in the store, with the config version it serves. */
export async function clusterView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Cluster · isogate';
  const summary = h('p', { class: 'cluster-summary', role: 'status' }, 'Loading the cluster…');
  const body = h('div');
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Cluster')),
      h(
        'p',
        { class: 'lead' },
        'Every gateway process (each worker) and admin process using this store, as its heartbeats report it. ',
        'A process that misses three heartbeats is stale: stopped without saying so, or cut off from the store.',
      ),
      summary,
      body,
    ),
  );

  async function load(): Promise<void> {
    try {
      const view = await admin.cluster({ signal });
      summary.textContent = summaryText(view);
      replace(body, view.processes.length === 0 ? emptyState() : table(view));
    } catch (err) {
      if (isAbort(err)) return;
      replace(body, loadErrorBox(err));
    }
  }

  await load();
  every(REFRESH_EVERY_MS, signal, load);
}

/** "4 processes: 4 alive · stored config version 12 · serving it: 3 of 3 alive gateway processes". */
function summaryText(view: ClusterView): string {
  const alive = view.processes.filter((p) => p.state === 'alive');
  const stale = view.processes.length - alive.length;
  const gateways = alive.filter((p) => p.serves !== 'admin');
  const current = gateways.filter((p) => p.configVersion === view.configVersion).length;
  return [
    `${plural(view.processes.length, 'process', 'processes')}: ${alive.length} alive${stale > 0 ? `, ${stale} stale` : ''}`,
    `stored config version ${view.configVersion}`,
    `serving it: ${current} of ${plural(gateways.length, 'alive gateway process', 'alive gateway processes')}`,
  ].join(' · ');
}

function table(view: ClusterView): HTMLElement {
  return h(
    'table',
    { class: 'table table-cards cluster-table' },
    h('caption', { class: 'sr-only' }, 'Processes'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Host', 'PID', 'Role', 'Serves', 'Config version', 'State', 'Last seen', 'Started'].map((title) =>
          h('th', { scope: 'col' }, title),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      view.processes.map((p) => row(p, view.configVersion)),
    ),
  );
}

function row(p: ClusterProcessView, stored: number): HTMLElement {
  const behind = p.configVersion !== stored;
  return h(
    'tr',
    { dataset: { process: p.id, pid: String(p.pid), state: p.state }, class: p.state === 'stale' ? 'row-muted' : '' },
    cell('Host', [h('span', { class: 'strong' }, p.host)]),
    cell('PID', [h('code', null, String(p.pid))]),
    cell('Role', [p.role, p.worker === null ? '' : h('span', { class: 'muted' }, ` · worker ${p.worker}`)]),
    cell('Serves', [p.serves === 'both' ? 'gateway + admin' : p.serves]),
    cell('Config version', [
      h('span', { class: 'config-version' }, p.configVersion === null ? '—' : String(p.configVersion)),
      ' ',
      behind ? h('span', { class: 'badge badge-warn' }, 'behind') : h('span', { class: 'badge badge-ok' }, 'current'),
    ]),
    cell('State', [
      p.state === 'alive'
        ? h('span', { class: 'badge badge-ok' }, 'alive')
        : h('span', { class: 'badge badge-danger' }, 'stale'),
    ]),
    cell('Last seen', [h('span', { title: dateTime(p.lastSeen) }, seenAgo(p.ageMs))]),
    cell('Started', [h('span', { class: 'muted small' }, dateTime(p.startedAt))]),
  );
}

/** The age of the last heartbeat, from the store's clock (never the browser's). */
function seenAgo(ageMs: number): string {
  if (ageMs < 1_000) return 'just now';
  const s = Math.round(ageMs / 1000);
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function emptyState(): HTMLElement {
  return h(
    'div',
    { class: 'empty card' },
    h('h2', null, 'No process has registered'),
    h('p', null, 'Gateway and admin processes register here with their first heartbeat, a moment after they start.'),
  );
}
