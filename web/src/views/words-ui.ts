import { h } from '../components/dom.js';
import type { AlgorithmName, Api, ApiSummary } from '../types.js';

/** Algorithms with their names and what they do, in words. */
export const ALGORITHMS: Array<{ name: AlgorithmName; title: string; words: string }> = [
  { name: 'round_robin', title: 'Round robin', words: 'Takes the nodes in turn, ignoring weights.' },
  {
    name: 'weighted',
    title: 'Weighted',
    words: 'Takes the nodes in turn, each as often as its weight says (5:1:1 gives a a b a c a a).',
  },
  { name: 'ip_hash', title: 'IP hash', words: 'Each client IP keeps going to the same node; weights set the shares.' },
  {
    name: 'least_conn',
    title: 'Least connections',
    words: 'The node with the fewest requests in flight for its weight; ties take turns.',
  },
  {
    name: 'hash',
    title: 'Hash on a key',
    words:
      'The same header, query parameter or cookie value keeps going to the same node (the client IP when it is missing).',
  },
];

/** The title of an algorithm. */
export function algorithmTitle(name: string): string {
  return ALGORITHMS.find((a) => a.name === name)?.title ?? name;
}

/** Every HTTP method an API can accept. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** "All methods" or "GET, POST". */
export function methodsText(methods: readonly string[]): string {
  return methods.length >= METHODS.length ? 'All methods' : methods.join(', ');
}

/** The route of an API as one line: `api.example.com/shop/*`. */
export function routeText(api: Pick<Api, 'host' | 'path'>): string {
  return `${api.host ?? ''}${api.path}`;
}

/** A badge for a selector state. */
export function selectorBadge(state: ApiSummary['selectorState']): HTMLElement {
  if (state === 'active') return h('span', { class: 'badge badge-ok' }, 'Selector active');
  if (state === 'quarantined') return h('span', { class: 'badge badge-danger' }, 'Selector quarantined');
  if (state === 'over-budget') return h('span', { class: 'badge badge-danger' }, 'Selector not started');
  return h('span', { class: 'badge badge-off' }, 'No selector');
}
