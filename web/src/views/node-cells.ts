import { h, replace } from '../components/dom.js';
import { percent, plural, rate } from '../format.js';
import { ruleHolds } from '../rules.js';
import type { BackendNode, ConnectorValue, HealthState, NodeHealthEntry, NodeStatsView } from '../types.js';

// What the Nodes table says about a node in words: whether it takes traffic, its health, its last
// minute of requests and its connector's settings.

/** Whether a node takes traffic now, and if not, why, in words. */
export function nodeState(node: BackendNode, variables: ReadonlyMap<string, string>): { on: boolean; text: string } {
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
export function fillHealth(cell: HTMLElement, entry: NodeHealthEntry | undefined): void {
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

/**
 * A node's last minute: requests and errors, rate, error rate and p99; or "No requests", with the
 * last five minutes' count when there were some.
 */
export function fillStats(cell: HTMLElement, view: NodeStatsView | undefined): void {
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

/** The connector's settings in a line (`url http://…`), without the kind. */
export function connectorSettings(connector: ConnectorValue): Array<[string, string]> {
  return Object.entries(connector)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
}
