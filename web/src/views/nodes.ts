import { admin, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { cell, cellBody } from '../components/table.js';
import { notify } from '../components/notify.js';
import { plural } from '../format.js';
import { every } from '../router.js';
import type { Api, ApiHealthReport, BackendNode, ConnectorKindInfo, NodeStatsView } from '../types.js';
import { gate } from '../session.js';
import { fillHealth, fillStats, nodeState } from './node-cells.js';
import { openNodeForm } from './node-form.js';
import { nodeRow, type NodesTab } from './node-row.js';

const STATS_EVERY_MS = 3000;

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

  const tab: NodesTab = {
    api,
    container,
    healthCell,
    statsCell,
    show: (saved) => {
      nodes = nodes.map((n) => (n.id === saved.id ? saved : n));
      render();
    },
    reload: load,
    edit: openForm,
  };

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
          nodes.map((node) => nodeRow(node, kinds, variables, tab)),
        ),
      ),
    );
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
