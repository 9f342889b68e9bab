import { admin, errorText, isAbort, paths } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { cell, cellBody } from '../components/table.js';
import { notify } from '../components/notify.js';
import { percent, plural, rate } from '../format.js';
import { every } from '../router.js';
import { ruleHolds, ruleText } from '../rules.js';
import type {
  Api,
  ApiHealthReport,
  BackendNode,
  ConnectorKindInfo,
  ConnectorValue,
  HealthState,
  NodeHealthEntry,
  NodeStatsView,
  Rule,
} from '../types.js';
import { confirmWithImpact, impactText } from '../impact.js';
import { gate } from '../session.js';
import { openNodeForm } from './node-form.js';

const STATS_EVERY_MS = 3000;

/** Whether a node takes traffic now, and if not, why, in words. */
function nodeState(node: BackendNode, variables: ReadonlyMap<string, string>): { on: boolean; text: string } {
  if (!node.enabled) return { on: false, text: 'Off: not ticked' };
  const failing = node.rules.filter((r) => !ruleHolds(r, variables));
  if (failing.length > 0)
    return { on: false, text: `Off: ${failing.length === 1 ? 'a rule does' : `${failing.length} rules do`} not hold` };
  return { on: true, text: 'Takes traffic' };
}

const HEALTH_WORDS: Record<HealthState, string> = {
  healthy: 'Healthy',
  unhealthy: 'Unhealthy',
  ejected: 'Ejected',
  unknown: 'Unknown',
};

/** A node's health in words: the state, why, and until when an ejection lasts. */
function fillHealth(cell: HTMLElement, entry: NodeHealthEntry | undefined): void {
  if (!entry) {
    replace(cell, h('span', { class: 'muted' }, '—'));
    return;
  }
  const until = entry.ejectedUntil ? ` until ${new Date(entry.ejectedUntil).toLocaleTimeString()}` : '';
  const votes =
    entry.workers && entry.state !== 'healthy'
      ? ` (${entry.workers[entry.state as 'unhealthy' | 'ejected'] ?? 0} of ${entry.workers.healthy + entry.workers.unhealthy + entry.workers.ejected} workers)`
      : '';
  replace(
    cell,
    h('span', { class: `health-badge health-${entry.state}` }, HEALTH_WORDS[entry.state]),
    entry.reason ? h('div', { class: 'health-reason small muted' }, `${entry.reason}${until}${votes}`) : null,
  );
}

/** The connector's settings in a line (`url http://…`), without the kind. */
function connectorSettings(connector: ConnectorValue): Array<[string, string]> {
  return Object.entries(connector)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
}

/**
 * The Nodes tab: a table of the API's nodes with the tick (applied at once), weight, connector,
 * tags, rules with their live state, and each node's recent requests and errors (polled).
 */
export async function nodesPanel(container: HTMLElement, api: Api, signal: AbortSignal): Promise<void> {
  let nodes: BackendNode[] = [];
  let variables = new Map<string, string>();
  let connectors: ConnectorKindInfo[] = [];
  let stats: Record<string, NodeStatsView> = {};
  let health: ApiHealthReport | null = null;

  const addButton = gate(h('button', { type: 'button', class: 'btn btn-primary' }, 'Add node'), 'editor');
  const refreshButton = h('button', { type: 'button', class: 'btn btn-quiet' }, 'Refresh');
  const tableHost = h('div', { class: 'table-host' }, h('div', { class: 'loading', role: 'status' }, 'Loading nodes…'));
  const summary = h('p', { class: 'muted small', 'aria-live': 'polite' });
  replace(
    container,
    h(
      'section',
      { 'aria-labelledby': 'nodes-title' },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: 'nodes-title' }, 'Nodes'),
        h('div', { class: 'toolbar' }, refreshButton, addButton),
      ),
      h(
        'p',
        { class: 'lead small' },
        'A ticked node whose rules all hold takes traffic. Changes apply from the next request. Health is what the gateway learned from probes and failed requests: an unhealthy or ejected node takes no traffic until it recovers. Requests and errors are for the last minute, summed over the gateway processes of this machine.',
      ),
      summary,
      tableHost,
    ),
  );

  const statCells = new Map<string, HTMLElement>();
  const healthCells = new Map<string, HTMLElement>();
  const healthOf = (id: string) => health?.nodes.find((n) => n.id === id);

  function healthCell(id: string): HTMLElement {
    const td = cell('Health', [], { class: 'health', dataset: { node: id } });
    healthCells.set(id, cellBody(td));
    fillHealth(cellBody(td), healthOf(id));
    return td;
  }

  function statsCell(id: string): HTMLElement {
    const td = cell('Last minute', [], { class: 'stats', dataset: { node: id } });
    statCells.set(id, cellBody(td));
    fillStats(cellBody(td), stats[id]);
    return td;
  }

  function fillStats(cell: HTMLElement, view: NodeStatsView | undefined): void {
    const m = view?.lastMinute;
    if (!m || m.requests === 0) {
      replace(
        cell,
        h('span', { class: 'muted' }, 'No requests'),
        view && view.lastFiveMinutes.requests > 0
          ? h('div', { class: 'muted small' }, `${view.lastFiveMinutes.requests} in 5 min`)
          : null,
      );
      return;
    }
    replace(
      cell,
      h('span', { class: 'stat-requests' }, plural(m.requests, 'request')),
      ' · ',
      h('span', { class: m.errors > 0 ? 'stat-errors text-danger' : 'stat-errors' }, plural(m.errors, 'error')),
      h(
        'div',
        { class: 'muted small' },
        `${rate(m.rps)} · ${percent(m.errorRate)} errors${m.p99Ms !== null ? ` · p99 ≤ ${m.p99Ms} ms` : ''}`,
      ),
    );
  }

  function render(): void {
    statCells.clear();
    healthCells.clear();
    const on = nodes.filter((n) => nodeState(n, variables).on).length;
    summary.textContent =
      nodes.length === 0
        ? ''
        : `${plural(nodes.length, 'node')}: ${nodes.filter((n) => n.enabled).length} ticked, ${on} taking traffic.`;
    if (nodes.length === 0) {
      replace(
        tableHost,
        h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'No nodes yet'),
          h(
            'p',
            null,
            'Requests to this API get NO_ENABLED_NODE (503) until it has a ticked node. Add one by choosing its connector.',
          ),
        ),
      );
      return;
    }
    const kinds = new Map(connectors.map((c) => [c.kind, c.title]));
    replace(
      tableHost,
      h(
        'table',
        { class: 'table table-cards nodes-table' },
        h('caption', { class: 'sr-only' }, `Nodes of ${api.name}`),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Enabled', 'Node', 'Health', 'Weight', 'Connector', 'Tags', 'Rules', 'Last minute'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
          ),
        ),
        h(
          'tbody',
          null,
          nodes.map((node) => row(node, kinds)),
        ),
      ),
    );
  }

  function row(node: BackendNode, kinds: Map<string, string>): HTMLTableRowElement {
    const state = nodeState(node, variables);
    const tickError = h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true });
    const tick = gate(
      h('input', {
        type: 'checkbox',
        class: 'tick',
        checked: node.enabled,
        'aria-label': `Enabled: ${node.name}`,
        'aria-describedby': `state-${node.id}`,
      }),
      'operator',
    );
    tick.addEventListener('change', () => void setEnabled(node, tick, tickError));
    const edit = gate(
      h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Edit node ${node.name}` }, 'Edit'),
      'editor',
    );
    edit.addEventListener('click', () => openForm(node));
    const del = gate(
      h(
        'button',
        { type: 'button', class: 'btn btn-small btn-quiet btn-danger-text', 'aria-label': `Delete node ${node.name}` },
        'Delete',
      ),
      'editor',
    );
    del.addEventListener('click', () => void remove(node, del));
    const connector = node.connector as ConnectorValue;
    return h(
      'tr',
      { dataset: { node: node.name }, class: state.on ? '' : 'row-off' },
      cell('Enabled', [tick, tickError], { class: 'tick-cell' }),
      cell('Node', [
        h('span', { class: 'strong' }, node.name),
        h(
          'div',
          { id: `state-${node.id}`, class: `node-state small ${state.on ? 'text-ok' : 'text-muted'}` },
          state.text,
        ),
      ]),
      healthCell(node.id),
      cell('Weight', [String(node.weight)], { class: 'num' }),
      cell('Connector', [
        h('div', null, kinds.get(connector.kind) ?? connector.kind),
        connectorSettings(connector).map(([k, v]) =>
          h(
            'div',
            { class: 'small' },
            k === 'url' ? null : h('span', { class: 'muted' }, `${k}: `),
            h('code', { class: 'wrap' }, v),
          ),
        ),
      ]),
      cell('Tags', [
        node.tags.length ? node.tags.map((t) => h('span', { class: 'chip' }, t)) : h('span', { class: 'muted' }, '—'),
      ]),
      cell('Rules', [
        node.rules.length
          ? h(
              'ul',
              { class: 'rule-list' },
              node.rules.map((r) => ruleItem(r)),
            )
          : h('span', { class: 'muted' }, 'None'),
      ]),
      statsCell(node.id),
      h('td', { class: 'row-actions' }, edit, del),
    );
  }

  function ruleItem(rule: Rule): HTMLLIElement {
    const holds = ruleHolds(rule, variables);
    const missing = !variables.has(rule.variable);
    return h(
      'li',
      { class: holds ? 'rule-holds' : 'rule-fails' },
      h('span', { 'aria-hidden': 'true', class: 'rule-icon' }, holds ? '✓' : '✗'),
      h('span', { class: 'sr-only' }, holds ? 'Holds: ' : 'Does not hold: '),
      ruleText(rule),
      missing ? h('span', { class: 'small muted' }, ' (not defined)') : null,
    );
  }

  async function setEnabled(node: BackendNode, tick: HTMLInputElement, error: HTMLElement): Promise<void> {
    const want = tick.checked;
    tick.disabled = true;
    error.hidden = true;
    try {
      // What the tick would do first; an untick that leaves an API without a node asks before it applies.
      const { go, impact } = await confirmWithImpact({
        method: 'PATCH',
        path: paths.node(api.id, node.id),
        body: { enabled: want },
        title: `Untick ${node.name}?`,
        confirmLabel: `Untick ${node.name}`,
      });
      if (!go) {
        tick.checked = !want;
        tick.disabled = false;
        tick.focus();
        return;
      }
      const saved = await admin.patchNode(api.id, node.id, { enabled: want });
      nodes = nodes.map((n) => (n.id === saved.id ? saved : n));
      notify(
        `${saved.name} ${want ? 'ticked: it takes traffic' : 'unticked: it takes no traffic'} from the next request.${impactText(impact)}`,
      );
      render();
      // The row was re-rendered: keep the keyboard user on the same tick.
      container.querySelector<HTMLInputElement>(`tr[data-node="${CSS.escape(saved.name)}"] input.tick`)?.focus();
    } catch (err) {
      tick.checked = !want;
      tick.disabled = false;
      error.textContent = errorText(err);
      error.hidden = false;
    }
  }

  async function remove(node: BackendNode, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      const { go } = await confirmWithImpact({
        method: 'DELETE',
        path: paths.node(api.id, node.id),
        title: `Delete node “${node.name}”?`,
        message: h('p', null, `It is removed from ${api.name} and takes no traffic from the next request on.`),
        confirmLabel: 'Delete node',
        always: true,
        danger: true,
      });
      if (!go) {
        button.disabled = false;
        return;
      }
      await admin.deleteNode(api.id, node.id);
      await load();
      notify(`Node ${node.name} deleted.`);
    } catch (err) {
      button.disabled = false;
      notify(errorText(err), 'error');
    }
  }

  function openForm(node?: BackendNode): void {
    openNodeForm({
      api,
      ...(node ? { node } : {}),
      connectors,
      variables,
      onSaved: (saved, created) => {
        // The toast comes once the table shows the change, so what it says is what the page shows.
        void load().then(() => {
          notify(
            created ? `Node ${saved.name} added; it takes traffic from the next request.` : `Node ${saved.name} saved.`,
          );
          container.querySelector<HTMLElement>(`tr[data-node="${CSS.escape(saved.name)}"] input.tick`)?.focus();
        });
      },
    });
  }

  async function load(): Promise<void> {
    try {
      const [n, v, c, s, hl] = await Promise.all([
        admin.listNodes(api.id, { signal }),
        admin.listVariables({ signal }),
        connectors.length ? Promise.resolve(connectors) : admin.listConnectors({ signal }),
        admin.nodeStats(api.id, { signal }),
        admin.nodeHealth(api.id, { signal }),
      ]);
      health = hl;
      nodes = n;
      variables = new Map(v.map((x) => [x.name, x.value]));
      connectors = c;
      stats = s.nodes;
      render();
    } catch (err) {
      if (isAbort(err)) return;
      replace(tableHost, loadErrorBox(err));
    }
  }

  async function refreshStats(): Promise<void> {
    const [s, hl] = await Promise.all([admin.nodeStats(api.id, { signal }), admin.nodeHealth(api.id, { signal })]);
    stats = s.nodes;
    health = hl;
    for (const [id, cell] of statCells) fillStats(cell, stats[id]);
    for (const [id, cell] of healthCells) fillHealth(cell, healthOf(id));
  }

  addButton.addEventListener('click', () => {
    if (connectors.length === 0) {
      notify('The connector kinds are still loading; try again in a moment.', 'error');
      return;
    }
    openForm();
  });
  refreshButton.addEventListener('click', () => void load());
  await load();
  every(STATS_EVERY_MS, signal, refreshStats);
}
