import { h } from '../components/dom.js';
import { plural } from '../format.js';
import { gate } from '../session.js';
import type { VariableNodeUse, VariableUsage } from '../types.js';

// Which nodes of which APIs a variable controls through their rules, in words: for the Variables
// page's Controls column, its delete dialog and its list of names that rules use but nobody defined.

/** "4 nodes in 3 APIs", or "No rule uses it". */
export function usageText(uses: readonly VariableNodeUse[]): string {
  if (uses.length === 0) return 'No rule uses it';
  const apis = new Set(uses.map((u) => u.apiId)).size;
  return `${plural(uses.length, 'node')} in ${plural(apis, 'API')}`;
}

/**
 * The Controls cell of a variable: its usage in words, unfolding to each API (a link to its nodes) with
 * the nodes whose rules read it, each marked by whether its rule holds now.
 */
export function usageCell(name: string, uses: VariableNodeUse[]): HTMLElement {
  const text = `${name}: ${usageText(uses)}`;
  if (uses.length === 0) return h('span', { class: 'muted' }, text);
  const byApi = new Map<string, VariableNodeUse[]>();
  for (const u of uses) byApi.set(u.apiId, [...(byApi.get(u.apiId) ?? []), u]);
  return h(
    'details',
    { class: 'usage-details' },
    h('summary', null, text),
    h(
      'ul',
      { class: 'plain-list small' },
      [...byApi.values()].map((list) =>
        h(
          'li',
          null,
          h('a', { href: `/apis/${encodeURIComponent(list[0]!.apiId)}/nodes` }, list[0]!.apiName),
          ': ',
          list.map((u, i) => [
            i > 0 ? ', ' : '',
            h(
              'span',
              { class: u.holds ? 'text-ok' : 'text-muted' },
              u.nodeName,
              h('span', { class: 'sr-only' }, u.holds ? ' (rule holds)' : ' (rule does not hold)'),
              h('span', { 'aria-hidden': 'true' }, u.holds ? ' ✓' : ' ✗'),
            ),
          ]),
        ),
      ),
    ),
  );
}

/**
 * The card of the names that rules use but that are not defined (such rules never hold), each with a
 * button that fills the new-variable form with it; null when there are none.
 */
export function missingCard(usage: readonly VariableUsage[], define: (name: string) => void): HTMLElement | null {
  const missing = usage.filter((u) => u.value === null);
  return missing.length === 0
    ? null
    : h(
        'section',
        { class: 'card card-warn', 'aria-labelledby': 'missing-title' },
        h('h2', { id: 'missing-title' }, 'Used by rules but not defined'),
        h(
          'p',
          { class: 'small' },
          'A rule on a variable that does not exist never holds, so these nodes take no traffic.',
        ),
        h(
          'ul',
          { class: 'plain-list' },
          missing.map((m) =>
            h(
              'li',
              null,
              h('code', null, m.name),
              ` — ${usageText(m.uses)} `,
              gate(
                h(
                  'button',
                  { type: 'button', class: 'btn btn-small', onclick: () => define(m.name) },
                  `Define ${m.name}`,
                ),
                'operator',
              ),
            ),
          ),
        ),
      );
}
