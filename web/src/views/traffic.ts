import { admin, ApiError, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { sparkline } from '../components/sparkline.js';
import { cell } from '../components/table.js';
import { percent, plural, rate } from '../format.js';
import { every } from '../router.js';
import type { Api, BackendNode, NodeStatsView, NodeStatsWindow } from '../types.js';
import { errorSentence } from '../words.js';

const REFRESH_MS = 3000;

function p99Text(w: NodeStatsWindow): string {
  return w.p99Ms === null ? '—' : Number.isFinite(w.p99Ms) ? `≤ ${w.p99Ms} ms` : '> 10 s';
}

/** The figures of one window: requests/s, error rate, p99, each in its own element for reading back. */
function windowCells(label: string, w: NodeStatsWindow | undefined, kind: 'minute' | 'five'): HTMLTableCellElement[] {
  const idle = !w || w.requests === 0;
  return [
    cell(`Requests/s (${label})`, [h('span', { class: `traffic-rps-${kind}` }, idle ? '0/s' : rate(w.rps))], { class: 'num' }),
    cell(`Errors (${label})`, [
      h('span', { class: `traffic-errors-${kind}${w && w.errors > 0 ? ' text-danger' : ''}` }, idle ? '—' : percent(w.errorRate)),
      !idle && w.errors > 0 ? h('div', { class: 'muted small' }, `${plural(w.errors, 'error')} of ${w.requests}`) : null,
    ], { class: 'num' }),
    cell(`p99 (${label})`, [h('span', { class: `traffic-p99-${kind}` }, idle ? '—' : p99Text(w))], { class: 'num' }),
  ];
}

/** Requests per 10 s (and errors) over the last five minutes, as a sparkline with a spoken summary. */
function trend(view: NodeStatsView | undefined): HTMLElement {
  const slots = view?.recent ?? [];
  const requests = slots.map((s) => s.requests);
  const errors = slots.map((s) => s.errors);
  const total = requests.reduce((a, b) => a + b, 0);
  const peak = Math.max(0, ...requests);
  const label = total === 0 ? 'No requests in the last 5 minutes' : `Requests per 10 s over the last 5 minutes: peak ${peak}, latest ${requests.at(-1) ?? 0}, ${plural(errors.reduce((a, b) => a + b, 0), 'error')}`;
  const chart = sparkline(
    // Errors first, so the requests line stays on top where both are zero.
    [
      { values: errors, className: 'spark-errors' },
      { values: requests, className: 'spark-requests' },
    ],
    label,
    160,
  );
  chart.dataset.total = String(total);
  return h('div', { class: 'trend', title: label }, chart);
}

/**
 * The Traffic tab: each node's requests/s, error rate and p99 over the last minute and five minutes
 * (summed over the gateway's worker processes) and a sparkline of requests per 10 s; polled.
 */
export async function trafficPanel(container: HTMLElement, api: Api, signal: AbortSignal): Promise<void> {
  let nodes: BackendNode[] = [];
  const tableHost = h('div', { class: 'table-host' }, h('div', { class: 'loading', role: 'status' }, 'Loading traffic…'));
  const updated = h('p', { class: 'muted small traffic-updated', 'aria-live': 'off' });
  replace(
    container,
    h(
      'section',
      { 'aria-labelledby': 'traffic-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'traffic-title' }, 'Traffic')),
      h(
        'p',
        { class: 'lead small' },
        'Each node’s requests per second, error rate (gateway errors and upstream 5xx) and 99th-percentile latency over the last minute and the last five minutes, and its WebSockets (upgraded connections) open now, for every gateway process of this machine. The line shows requests per 10 seconds over the last five minutes, errors in red. Refreshed every few seconds; Prometheus metrics are on the status port at /metrics.',
      ),
      tableHost,
      updated,
    ),
  );

  function render(stats: Record<string, NodeStatsView>): void {
    if (nodes.length === 0) {
      replace(tableHost, h('div', { class: 'empty card' }, h('h3', null, 'No nodes yet'), h('p', null, 'Add nodes in the Nodes tab; their traffic shows here.')));
      return;
    }
    replace(
      tableHost,
      h(
        'table',
        { class: 'table table-cards traffic-table' },
        h('caption', { class: 'sr-only' }, `Traffic of the nodes of ${api.name}`),
        h(
          'thead',
          null,
          h('tr', null, h('th', { scope: 'col' }, 'Node'), h('th', { scope: 'colgroup', colspan: 3, class: 'num' }, 'Last minute'), h('th', { scope: 'colgroup', colspan: 3, class: 'num' }, 'Last 5 minutes'), h('th', { scope: 'col', class: 'num' }, 'Open WebSockets'), h('th', { scope: 'col' }, 'Requests per 10 s')),
          h(
            'tr',
            { class: 'subhead' },
            h('th', { 'aria-hidden': 'true' }),
            ['Req/s', 'Errors', 'p99', 'Req/s', 'Errors', 'p99'].map((t) => h('th', { scope: 'col', class: 'num small' }, t)),
            h('th', { 'aria-hidden': 'true' }),
            h('th', { 'aria-hidden': 'true' }),
          ),
        ),
        h(
          'tbody',
          null,
          nodes.map((node) => {
            const view = stats[node.id];
            return h(
              'tr',
              { dataset: { node: node.name } },
              cell('Node', [h('span', { class: 'strong' }, node.name), node.enabled ? null : h('div', { class: 'muted small' }, 'Not ticked')], {}, 'th'),
              windowCells('last minute', view?.lastMinute, 'minute'),
              windowCells('last 5 minutes', view?.lastFiveMinutes, 'five'),
              // Upgraded connections (WebSockets) open now, over every gateway process of this machine.
              cell('Open WebSockets', [h('span', { class: 'traffic-upgraded' }, String(view?.upgraded ?? 0))], { class: 'num' }),
              cell('Requests per 10 s', [trend(view)]),
            );
          }),
        ),
      ),
    );
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  }

  async function refresh(): Promise<void> {
    // Nodes too, so one added or renamed meanwhile shows.
    const [n, s] = await Promise.all([admin.listNodes(api.id, { signal }), admin.nodeStats(api.id, { signal })]);
    nodes = n;
    render(s.nodes);
  }

  try {
    const [n, s] = await Promise.all([admin.listNodes(api.id, { signal }), admin.nodeStats(api.id, { signal })]);
    nodes = n;
    render(s.nodes);
  } catch (err) {
    if (isAbort(err)) return;
    replace(tableHost, h('div', { class: 'form-error', role: 'alert' }, err instanceof ApiError ? errorSentence(err.code, err.message) : String(err)));
    return;
  }
  every(REFRESH_MS, signal, refresh);
}
