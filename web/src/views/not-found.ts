import { h, replace } from '../components/dom.js';
import type { ViewContext } from '../router.js';

/** The page for a console path that does not exist. */
export function notFoundView({ root }: ViewContext): void {
  document.title = 'Not found · isogate';
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('h1', null, 'Page not found'),
      h('p', null, 'There is no console page at this address. ', h('a', { href: '/apis' }, 'Go to the APIs'), '.'),
    ),
  );
}
