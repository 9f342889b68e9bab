import { h } from '../components/dom.js';
import { percent, plural, rate } from '../format.js';
import type { Availability, AvailabilityReason, NodeStatsWindow } from '../types.js';

/** Each reason in a few words. */
export const REASON_WORDS: Record<AvailabilityReason, string> = {
  'no-nodes': 'no nodes',
  unticked: 'no node ticked',
  rules: 'rules exclude all',
  health: 'all unhealthy',
  'selector-quarantined': 'selector quarantined',
  'selector-over-budget': 'selector not started (budget)',
};

/** A badge for an API's availability: "Takes traffic", "Down: rules exclude all", "Degraded: all unhealthy". */
export function availabilityBadge(a: Availability): HTMLElement {
  if (a.state === 'ok') return h('span', { class: 'badge badge-ok' }, 'Takes traffic');
  const words = a.reason ? REASON_WORDS[a.reason] : '';
  if (a.state === 'down') return h('span', { class: 'badge badge-danger', title: a.message }, `Down: ${words}`);
  return h('span', { class: 'badge badge-warn', title: a.message }, `Degraded: ${words}`);
}

/**
 * The banner an API page shows while the API has no node that could take traffic (or only by a
 * fallback), with the reason; null while it is fine.
 */
export function outageBanner(a: Availability): HTMLElement | null {
  if (a.state === 'ok') return null;
  const down = a.state === 'down';
  return h(
    'div',
    {
      class: `outage-banner ${down ? 'outage-down' : 'outage-degraded'}`,
      role: 'alert',
      dataset: { reason: a.reason ?? '' },
    },
    h('strong', null, down ? 'This API takes no traffic. ' : 'This API serves only by a fallback. '),
    a.message,
    h(
      'div',
      { class: 'small' },
      `${plural(a.nodes.total, 'node')}: ${a.nodes.ticked} ticked, ${a.nodes.rulesHold} with rules holding, ${a.nodes.healthy} healthy.`,
    ),
  );
}

/** Requests per second and error rate over the last minute, gateway-made errors included. */
export function trafficText(w: NodeStatsWindow): HTMLElement {
  if (w.requests === 0) return h('span', { class: 'muted' }, 'No requests');
  return h(
    'span',
    null,
    rate(w.rps),
    ' · ',
    h('span', { class: w.errors > 0 ? 'text-danger api-errors' : 'api-errors' }, `${percent(w.errorRate)} errors`),
  );
}
