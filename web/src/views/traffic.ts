import { admin, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { sparkline } from '../components/sparkline.js';
import { cell } from '../components/table.js';
import { percent, plural, rate } from '../format.js';
import { every } from '../router.js';
import type { Api, ApiTraffic, BackendNode, ErrorsByCode, NodeStatsView, NodeStatsWindow } from '../types.js';
import { GATEWAY_ERROR_WORDS } from '../words.js';

const REFRESH_MS = 3000;

function p99Text(w: NodeStatsWindow): string {
  return w.p99Ms === null ? '—' : Number.isFinite(w.p99Ms) ? `≤ ${w.p99Ms} ms` : '> 10 s';
}

/** The figures of one window: requests/s, error rate, p99, each in its own element for reading back. */
function windowCells(label: string, w: NodeStatsWindow | undefined, kind: 'minute' | 'five'): HTMLTableCellElement[] {
  const idle = !w || w.requests === 0;
  return [
    cell(`Requests/s (${label})`, [h('span', { class: `traffic-rps-${kind}` }, idle ? '0/s' : rate(w.rps))], {
      class: 'num',
    }),
    cell(
      `Errors (${label})`,
      [
        h(
          'span',
          { class: `traffic-errors-${kind}${w && w.errors > 0 ? ' text-danger' : ''}` },
          idle ? '—' : percent(w.errorRate),
        ),
        !idle && w.errors > 0
          ? h('div', { class: 'muted small' }, `${plural(w.errors, 'error')} of ${w.requests}`)
          : null,
      ],
      { class: 'num' },
    ),
    cell(`p99 (${label})`, [h('span', { class: `traffic-p99-${kind}` }, idle ? '—' : p99Text(w))], { class: 'num' }),
  ];
}

/** Requests per 10 s (and errors) over the last five minutes, as a sparkline with a spoken summary. */
function trend(view: Pick<NodeStatsView, 'recent'> | undefined): HTMLElement {
  const slots = view?.recent ?? [];
  const requests = slots.map((s) => s.requests);
  const errors = slots.map((s) => s.errors);
  const total = requests.reduce((a, b) => a + b, 0);
  const peak = Math.max(0, ...requests);
  const label =
    total === 0
      ? 'No requests in the last 5 minutes'
      : `Requests per 10 s over the last 5 minutes: peak ${peak}, latest ${requests.at(-1) ?? 0}, ${plural(
          errors.reduce((a, b) => a + b, 0),
          'error',
        )}`;
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

/** The two header rows of a traffic table whose rows are `first` (the API, or nodes); nodes also show their open WebSockets. */
function tableHead(first: string, websockets: boolean): HTMLElement {
  return h(
    'thead',
    null,
    h(
      'tr',
      null,
      h('th', { scope: 'col' }, first),
      h('th', { scope: 'colgroup', colspan: 3, class: 'num' }, 'Last minute'),
      h('th', { scope: 'colgroup', colspan: 3, class: 'num' }, 'Last 5 minutes'),
      websockets ? h('th', { scope: 'col', class: 'num' }, 'Open WebSockets') : null,
      h('th', { scope: 'col' }, 'Requests per 10 s'),
    ),
    h(
      'tr',
      { class: 'subhead' },
      h('th', { 'aria-hidden': 'true' }),
      ['Req/s', 'Errors', 'p99', 'Req/s', 'Errors', 'p99'].map((t) => h('th', { scope: 'col', class: 'num small' }, t)),
      websockets ? h('th', { 'aria-hidden': 'true' }) : null,
      h('th', { 'aria-hidden': 'true' }),
    ),
  );
}

/** Gateway-made errors by code, most first, each with what it means. */
function codesList(codes: ErrorsByCode): HTMLElement {
  const entries = Object.entries(codes).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return h('p', { class: 'muted small api-codes' }, 'No gateway-made errors.');
  return h(
    'ul',
    { class: 'plain-list small api-codes' },
    entries.map(([code, n]) =>
      h('li', { dataset: { code } }, h('code', null, code), ` ${n} — ${GATEWAY_ERROR_WORDS[code] ?? ''}`),
    ),
  );
}

/**
 * Every request to the API, the ones the gateway answered itself included (no node, selector empty,
 * …): an outage shows here even when no node saw a request (issue 17).
 */
function apiTotals(api: Api, traffic: ApiTraffic): HTMLElement {
  return h(
    'table',
    { class: 'table table-cards traffic-table api-totals' },
    h('caption', { class: 'sr-only' }, `All requests to ${api.name}`),
    tableHead('API', false),
    h(
      'tbody',
      null,
      h(
        'tr',
        { dataset: { api: api.name } },
        cell(
          'API',
          [
            h('span', { class: 'strong' }, 'All requests'),
            h('div', { class: 'muted small' }, 'gateway-made errors included'),
          ],
          {},
          'th',
        ),
        windowCells('last minute', traffic.lastMinute, 'minute'),
        windowCells('last 5 minutes', traffic.lastFiveMinutes, 'five'),
        cell('Requests per 10 s', [trend(traffic)]),
      ),
      h(
        'tr',
        { class: 'codes-row' },
        h(
          'td',
          { colspan: 8 },
          h('div', { class: 'small strong' }, 'Gateway-made errors, last 5 minutes'),
          codesList(traffic.errorsByCode.lastFiveMinutes),
        ),
      ),
    ),
  );
}

/**
 * The Traffic tab: each node's requests/s, error rate and p99 over the last minute and five minutes
 * (summed over the gateway's worker processes) and a sparkline of requests per 10 s; polled.
 */
export async function trafficPanel(container: HTMLElement, api: Api, signal: AbortSignal): Promise<void> {
  let nodes: BackendNode[] = [];
  const tableHost = h(
    'div',
    { class: 'table-host' },
    h('div', { class: 'loading', role: 'status' }, 'Loading traffic…'),
  );
  const totalsHost = h('div', { class: 'table-host' });
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
        'All requests to the API, then each node’s: requests per second, error rate (gateway errors and upstream 5xx) and 99th-percentile latency over the last minute and the last five minutes, and each node’s WebSockets (upgraded connections) open now, for every gateway process of this machine. Requests the gateway refused before any node (no node takes traffic, the selector returned none) count for the API only. The line shows requests per 10 seconds over the last five minutes, errors in red. Refreshed every few seconds; Prometheus metrics are on the status port at /metrics.',
      ),
      totalsHost,
      tableHost,
      updated,
    ),
  );

  function render(stats: Record<string, NodeStatsView>, traffic: ApiTraffic): void {
    replace(totalsHost, apiTotals(api, traffic));
    if (nodes.length === 0) {
      replace(
        tableHost,
        h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'No nodes yet'),
          h('p', null, 'Add nodes in the Nodes tab; their traffic shows here.'),
        ),
      );
      return;
    }
    replace(
      tableHost,
      h(
        'table',
        { class: 'table table-cards traffic-table' },
        h('caption', { class: 'sr-only' }, `Traffic of the nodes of ${api.name}`),
        tableHead('Node', true),
        h(
          'tbody',
          null,
          nodes.map((node) => {
            const view = stats[node.id];
            return h(
              'tr',
              { dataset: { node: node.name } },
              cell(
                'Node',
                [
                  h('span', { class: 'strong' }, node.name),
                  node.enabled ? null : h('div', { class: 'muted small' }, 'Not ticked'),
                ],
                {},
                'th',
              ),
              windowCells('last minute', view?.lastMinute, 'minute'),
              windowCells('last 5 minutes', view?.lastFiveMinutes, 'five'),
              // Upgraded connections (WebSockets) open now, over every gateway process of this machine.
              cell('Open WebSockets', [h('span', { class: 'traffic-upgraded' }, String(view?.upgraded ?? 0))], {
                class: 'num',
              }),
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
    render(s.nodes, s.api);
  }

  try {
    const [n, s] = await Promise.all([admin.listNodes(api.id, { signal }), admin.nodeStats(api.id, { signal })]);
    nodes = n;
    render(s.nodes, s.api);
  } catch (err) {
    if (isAbort(err)) return;
    replace(tableHost, loadErrorBox(err));
    return;
  }
  every(REFRESH_MS, signal, refresh);
}
