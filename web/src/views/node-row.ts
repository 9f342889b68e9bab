import { admin, errorText, paths } from '../api.js';
import { h } from '../components/dom.js';
import { notify } from '../components/notify.js';
import { cell } from '../components/table.js';
import { confirmWithImpact, impactText } from '../impact.js';
import { ruleHolds, ruleText } from '../rules.js';
import { gate } from '../session.js';
import type { Api, BackendNode, ConnectorValue, Rule } from '../types.js';
import { connectorSettings, nodeState } from './node-cells.js';

// A row of the Nodes table and what its controls do: tick, edit and delete.

/** What a row needs from the Nodes tab. */
export interface NodesTab {
  api: Api;
  /** The element the tab is in (after a tick the new row's tick takes the focus). */
  container: HTMLElement;
  /** The Health cell of a node, kept by the tab so that the poll refills it. */
  healthCell: (id: string) => HTMLElement;
  /** The Last minute cell of a node, kept by the tab so that the poll refills it. */
  statsCell: (id: string) => HTMLElement;
  /** Puts a node as the API answered a tick into the table and shows the table again. */
  show: (saved: BackendNode) => void;
  /** Reads the nodes again and shows them. */
  reload: () => Promise<void>;
  /** Opens the form that edits a node. */
  edit: (node: BackendNode) => void;
}

/**
 * A node's row: its tick (applied at once, asking first when it would leave the API without a node),
 * state, health, weight, connector (`kinds` names them), tags, rules held against `variables`, last
 * minute, Edit and Delete.
 */
export function nodeRow(
  node: BackendNode,
  kinds: Map<string, string>,
  variables: ReadonlyMap<string, string>,
  tab: NodesTab,
): HTMLTableRowElement {
  const state = nodeState(node, variables);
  const tickError = h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true });
  const tick = gate(
    h('input', {
      type: 'checkbox',
      class: 'tick',
      checked: node.enabled,
      'aria-label': `Enabled: ${node.name}`,
      'aria-describedby': `state-${node.id}`,
    }),
    'operator',
  );
  tick.addEventListener('change', () => void setEnabled(node, tick, tickError, tab));
  const edit = gate(
    h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Edit node ${node.name}` }, 'Edit'),
    'editor',
  );
  edit.addEventListener('click', () => tab.edit(node));
  const del = gate(
    h(
      'button',
      { type: 'button', class: 'btn btn-small btn-quiet btn-danger-text', 'aria-label': `Delete node ${node.name}` },
      'Delete',
    ),
    'editor',
  );
  del.addEventListener('click', () => void remove(node, del, tab));
  const connector = node.connector as ConnectorValue;
  return h(
    'tr',
    { dataset: { node: node.name }, class: state.on ? '' : 'row-off' },
    cell('Enabled', [tick, tickError], { class: 'tick-cell' }),
    cell('Node', [
      h('span', { class: 'strong' }, node.name),
      h(
        'div',
        { id: `state-${node.id}`, class: `node-state small ${state.on ? 'text-ok' : 'text-muted'}` },
        state.text,
      ),
    ]),
    tab.healthCell(node.id),
    cell('Weight', [String(node.weight)], { class: 'num' }),
    cell('Connector', [
      h('div', null, kinds.get(connector.kind) ?? connector.kind),
      connectorSettings(connector).map(([k, v]) =>
        h(
          'div',
          { class: 'small' },
          k === 'url' ? null : h('span', { class: 'muted' }, `${k}: `),
          h('code', { class: 'wrap' }, v),
        ),
      ),
    ]),
    cell('Tags', [
      node.tags.length ? node.tags.map((t) => h('span', { class: 'chip' }, t)) : h('span', { class: 'muted' }, '—'),
    ]),
    cell('Rules', [
      node.rules.length
        ? h(
            'ul',
            { class: 'rule-list' },
            node.rules.map((r) => ruleItem(r, variables)),
          )
        : h('span', { class: 'muted' }, 'None'),
    ]),
    tab.statsCell(node.id),
    h('td', { class: 'row-actions' }, edit, del),
  );
}

/** A rule of a node, marked as holding or not, and "(not defined)" when its variable is missing. */
function ruleItem(rule: Rule, variables: ReadonlyMap<string, string>): HTMLLIElement {
  const holds = ruleHolds(rule, variables);
  const missing = !variables.has(rule.variable);
  return h(
    'li',
    { class: holds ? 'rule-holds' : 'rule-fails' },
    h('span', { 'aria-hidden': 'true', class: 'rule-icon' }, holds ? '✓' : '✗'),
    h('span', { class: 'sr-only' }, holds ? 'Holds: ' : 'Does not hold: '),
    ruleText(rule),
    missing ? h('span', { class: 'small muted' }, ' (not defined)') : null,
  );
}

/** Applies a tick, asking first when an untick would leave the API without a node; an error shows under the tick. */
async function setEnabled(node: BackendNode, tick: HTMLInputElement, error: HTMLElement, tab: NodesTab): Promise<void> {
  const { api } = tab;
  const want = tick.checked;
  tick.disabled = true;
  error.hidden = true;
  try {
    // What the tick would do first; an untick that leaves an API without a node asks before it applies.
    const { go, impact } = await confirmWithImpact({
      method: 'PATCH',
      path: paths.node(api.id, node.id),
      body: { enabled: want },
      title: `Untick ${node.name}?`,
      confirmLabel: `Untick ${node.name}`,
    });
    if (!go) {
      tick.checked = !want;
      tick.disabled = false;
      tick.focus();
      return;
    }
    const saved = await admin.patchNode(api.id, node.id, { enabled: want });
    notify(
      `${saved.name} ${want ? 'ticked: it takes traffic' : 'unticked: it takes no traffic'} from the next request.${impactText(impact)}`,
    );
    tab.show(saved);
    // The row was re-rendered: keep the keyboard user on the same tick.
    tab.container.querySelector<HTMLInputElement>(`tr[data-node="${CSS.escape(saved.name)}"] input.tick`)?.focus();
  } catch (err) {
    tick.checked = !want;
    tick.disabled = false;
    error.textContent = errorText(err);
    error.hidden = false;
  }
}

/** Deletes a node once confirmed, then reads the table again. */
async function remove(node: BackendNode, button: HTMLButtonElement, tab: NodesTab): Promise<void> {
  const { api } = tab;
  button.disabled = true;
  try {
    const { go } = await confirmWithImpact({
      method: 'DELETE',
      path: paths.node(api.id, node.id),
      title: `Delete node “${node.name}”?`,
      message: h('p', null, `It is removed from ${api.name} and takes no traffic from the next request on.`),
      confirmLabel: 'Delete node',
      always: true,
      danger: true,
    });
    if (!go) {
      button.disabled = false;
      return;
    }
    await admin.deleteNode(api.id, node.id);
    await tab.reload();
    notify(`Node ${node.name} deleted.`);
  } catch (err) {
    button.disabled = false;
    notify(errorText(err), 'error');
  }
}
