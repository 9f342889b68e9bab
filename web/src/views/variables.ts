import { admin, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import type { ViewContext } from '../router.js';
import { can } from '../session.js';
import type { Variable, VariableUsage } from '../types.js';
import { newVariableForm } from './variable-forms.js';
import { variableRow, type VariablesPage } from './variable-row.js';
import { missingCard } from './variable-usage.js';

/**
 * The Variables page: each variable with its value (true/false as a switch that applies at once),
 * the nodes of which APIs its rules control, and create, edit and delete. Names that rules use but
 * that are not defined are listed too, since such rules never hold.
 */
export async function variablesView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Variables · isogate';
  let variables: Variable[] = [];
  let usage: VariableUsage[] = [];
  const listHost = h('div', null, h('div', { class: 'loading', role: 'status' }, 'Loading variables…'));
  const missingHost = h('div');
  const createForm = newVariableForm({ exists: (n) => variables.some((v) => v.name === n), reload: load });
  const page: VariablesPage = {
    usesOf: (name) => usage.find((u) => u.name === name)?.uses ?? [],
    reload: load,
    list: listHost,
  };
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Variables')),
      h(
        'p',
        { class: 'lead' },
        'A variable is a global name and value that node rules read. Set ',
        h('code', null, 'IP1_enable'),
        ' to false and every node whose rule wants it true stops taking traffic, in every API, from the next request.',
      ),
      can('operator')
        ? h(
            'section',
            { class: 'card', 'aria-labelledby': 'new-var-title' },
            h('h2', { id: 'new-var-title' }, 'New variable'),
            createForm.form,
          )
        : null,
      missingHost,
      h(
        'section',
        { 'aria-labelledby': 'vars-title' },
        h('h2', { id: 'vars-title', class: 'sr-only' }, 'All variables'),
        listHost,
      ),
    ),
  );

  async function load(): Promise<void> {
    try {
      const [v, u] = await Promise.all([admin.listVariables({ signal }), admin.variableUsage({ signal })]);
      variables = v;
      usage = u;
      render();
    } catch (err) {
      if (isAbort(err)) return;
      replace(listHost, loadErrorBox(err));
    }
  }

  function render(): void {
    replace(
      missingHost,
      missingCard(usage, (name) => createForm.prefill(name)),
    );
    if (variables.length === 0) {
      replace(
        listHost,
        h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'No variables yet'),
          h('p', null, 'Create one above, for example IP1_enable = true, then give nodes a rule on it.'),
        ),
      );
      return;
    }
    replace(
      listHost,
      h(
        'table',
        { class: 'table table-cards vars-table' },
        h('caption', { class: 'sr-only' }, 'Variables'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Name', 'Value', 'Controls', 'Updated'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
          ),
        ),
        h(
          'tbody',
          null,
          variables.map((v) => variableRow(v, page)),
        ),
      ),
    );
  }

  await load();
}
