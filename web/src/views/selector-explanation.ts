import { h } from '../components/dom.js';
import { micros, plural } from '../format.js';
import type { AccessExplanation, BalanceExplanation, NodeRef, SelectorFailure } from '../types.js';
import { GATEWAY_ERROR_WORDS, SELECTOR_ERROR_KINDS } from '../words.js';

// What a selector test found, shown step by step: the access decision, the nodes left after each
// balance step, the pick, and the selector's time, console output and error.

/** Which selector a test runs: the editor's text, the saved one, or none. */
export type TestMode = 'editor' | 'saved' | 'none';

/** The nodes a step kept, and struck through, the ones it dropped from the step before. */
function nodeList(nodes: readonly NodeRef[], previous: readonly NodeRef[] | null): HTMLElement {
  const kept = new Set(nodes.map((n) => n.id));
  const dropped = previous ? previous.filter((n) => !kept.has(n.id)) : [];
  if (nodes.length === 0 && dropped.length === 0) return h('p', { class: 'muted small' }, 'none');
  return h(
    'ul',
    { class: 'step-nodes' },
    nodes.map((n) => h('li', { title: n.url }, n.name)),
    dropped.map((n) =>
      h(
        'li',
        { class: 'dropped', title: n.url },
        h('del', null, n.name),
        h('span', { class: 'sr-only' }, ' (dropped here)'),
      ),
    ),
  );
}

/** A selector failure in words, with its line and column when known. */
function failureText(f: SelectorFailure): string {
  const at = f.line !== undefined ? ` at line ${f.line}${f.column !== undefined ? `, column ${f.column}` : ''}` : '';
  return `The selector ${SELECTOR_ERROR_KINDS[f.kind] ?? f.kind}${at}: ${f.message}`;
}

/** The explanation of one test as a row of steps plus the selector's run. */
export function renderExplanation(x: BalanceExplanation, mode: TestMode): HTMLElement {
  const stoppedEarly = x.errorCode === 'NO_ENABLED_NODE' || x.errorCode === 'RULES_EXCLUDED_ALL';
  const selectorStep = (() => {
    if (stoppedEarly) return h('p', { class: 'muted small' }, 'Not reached');
    if (!x.selector.ran)
      return [
        h('p', { class: 'muted small' }, mode === 'none' ? 'Not run (no selector)' : 'No selector: all pass'),
        nodeList(x.steps.selector, x.steps.health),
      ];
    return nodeList(x.steps.selector, x.steps.health);
  })();
  const steps: Array<[string, Element | Element[]]> = [
    ['Enabled', nodeList(x.steps.enabled, null)],
    ['Rules', nodeList(x.steps.rules, x.steps.enabled)],
    ['Health', nodeList(x.steps.health, x.steps.rules)],
    ['Selector', selectorStep],
  ];
  const counts = [x.steps.enabled, x.steps.rules, x.steps.health, x.steps.selector];
  const outcome = x.pick
    ? h(
        'p',
        { class: 'outcome outcome-ok' },
        'A real request would go to ',
        h('strong', null, x.pick.name),
        ` (${x.pick.url}).`,
      )
    : h(
        'p',
        { class: 'outcome outcome-error' },
        'A real request would get ',
        h('code', null, x.errorCode ?? 'an error'),
        `: ${GATEWAY_ERROR_WORDS[x.errorCode ?? ''] ?? 'no node could be picked.'}`,
      );
  const sel = x.selector;
  return h(
    'div',
    { class: 'explanation' },
    x.access ? renderAccess(x.access) : null,
    h(
      'ol',
      { class: 'pipeline', 'aria-label': 'Nodes after each step' },
      steps.map(([title, body], i) =>
        h(
          'li',
          { class: 'step', dataset: { step: title.toLowerCase() } },
          h(
            'div',
            { class: 'step-title' },
            title,
            h(
              'span',
              { class: 'step-count' },
              i === 3 && (stoppedEarly || (!sel.ran && mode === 'none')) ? '' : plural(counts[i]!.length, 'node'),
            ),
          ),
          body,
        ),
      ),
      h(
        'li',
        { class: `step step-pick ${x.pick ? '' : 'step-none'}`, dataset: { step: 'pick' } },
        h('div', { class: 'step-title' }, 'Pick'),
        x.pick
          ? h('p', { class: 'pick-name' }, x.pick.name)
          : h('p', { class: 'small' }, h('code', null, x.errorCode ?? '—')),
      ),
    ),
    outcome,
    sel.ran
      ? h(
          'div',
          { class: 'selector-run' },
          h('p', { class: 'small' }, `Selector time: ${micros(sel.durationUs)}`),
          sel.error
            ? h(
                'p',
                { class: 'text-danger small selector-failure' },
                failureText(sel.error),
                sel.fallback === 'use-all'
                  ? ' The API goes on with all nodes (onError: use-all).'
                  : sel.fallback === 'reject'
                    ? ' The API rejects the request (onError: reject).'
                    : '',
              )
            : null,
          h('div', { class: 'console-head small' }, 'Console output'),
          sel.console.length
            ? h('pre', { class: 'console' }, sel.console.join('\n'))
            : h('p', { class: 'muted small' }, 'Nothing was logged.'),
        )
      : null,
  );
}

/** The access decision of a test (before the balance steps): IP, CORS, who is calling, each limit. */
function renderAccess(a: AccessExplanation): HTMLElement {
  const verdict = (ok: boolean, words: string) => h('span', { class: ok ? 'text-ok' : 'text-danger' }, words);
  const items: HTMLElement[] = [];
  if (a.ip)
    items.push(
      h(
        'li',
        { dataset: { access: 'ip' } },
        h('strong', null, 'IP '),
        `${a.ip.clientIp}: `,
        verdict(
          a.ip.verdict === 'allowed',
          a.ip.verdict === 'allowed'
            ? 'allowed'
            : a.ip.verdict === 'denied'
              ? `denied (${a.ip.deny.join(', ')})`
              : 'not on the allow list',
        ),
      ),
    );
  if (a.cors)
    items.push(
      h(
        'li',
        { dataset: { access: 'cors' } },
        h('strong', null, 'CORS '),
        a.cors.origin === null ? 'no Origin header' : `${a.cors.origin}: ${a.cors.verdict ?? '—'}`,
      ),
    );
  if (a.auth) {
    const who = a.auth.consumer
      ? verdict(
          true,
          `consumer ${a.auth.consumer.name}${a.auth.consumer.tags.length ? ` (tags ${a.auth.consumer.tags.join(', ')})` : ''} by ${a.auth.method}`,
        )
      : a.auth.method === 'anonymous'
        ? verdict(true, 'anonymous')
        : a.auth.method === null
          ? verdict(
              a.step !== 'auth',
              a.step === 'auth' ? `no credential for ${a.auth.methods.join(', ')}` : 'not reached',
            )
          : verdict(false, `${a.auth.method} failed: ${a.auth.reason ?? ''}`);
    items.push(
      h(
        'li',
        { dataset: { access: 'auth' } },
        h('strong', null, 'Caller '),
        who,
        a.step === 'consumer' ? verdict(false, ' — not allowed on this API') : null,
      ),
    );
  }
  for (const l of a.limits) {
    items.push(
      h(
        'li',
        { dataset: { access: 'limit' } },
        h('strong', null, `Limit by ${l.by} `),
        `${l.rate}/${l.per}, burst ${l.burst}, ${l.policy}: `,
        verdict(!l.wouldRefuse, l.wouldRefuse ? 'would refuse (429)' : `${l.remaining} left`),
        l.known
          ? null
          : h('span', { class: 'muted' }, ' (this process serves no traffic: its buckets are not the gateways’)'),
      ),
    );
  }
  return h(
    'section',
    { class: 'access-explanation', 'aria-label': 'Access' },
    h(
      'div',
      { class: 'step-title' },
      'Access',
      a.errorCode
        ? h('code', { class: 'step-count' }, a.errorCode)
        : h('span', { class: 'step-count' }, a.preflight ? 'preflight answered' : 'passes'),
    ),
    h('ul', { class: 'plain-list small' }, items),
  );
}
