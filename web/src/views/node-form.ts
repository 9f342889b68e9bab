import { admin, paths } from '../api.js';
import { openModal } from '../components/dialog.js';
import { h, uid } from '../components/dom.js';
import { busy, checkboxField, clearErrors, field, formErrorBox, showErrors } from '../components/form.js';
import { rulesEditor } from '../components/rules-editor.js';
import { schemaForm, splitList } from '../components/schema-form.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { confirmWithImpact } from '../impact.js';
import type { Api, BackendNode, ConnectorKindInfo, ConnectorValue, Rule } from '../types.js';

/** What the node form holds while it is typed (and keeps as a draft). */
interface NodeDraft {
  kind: string | null;
  name: string;
  /** Settings typed per connector kind, so going back and forth between kinds loses nothing. */
  settings: Record<string, Record<string, unknown>>;
  enabled: boolean;
  weight: string;
  tags: string;
  rules: Array<{ variable: string; op: string; value: string | string[] }>;
}

function draftOf(node: BackendNode | undefined): NodeDraft {
  if (!node) return { kind: null, name: '', settings: {}, enabled: true, weight: '1', tags: '', rules: [] };
  const { kind, ...settings } = node.connector as ConnectorValue;
  return {
    kind,
    name: node.name,
    settings: { [kind]: settings },
    enabled: node.enabled,
    weight: String(node.weight),
    tags: node.tags.join(', '),
    rules: node.rules.map((r) => ({ ...r })),
  };
}

/**
 * The "Add node" / "Edit node" dialog. Adding first asks for the connector kind, then shows that
 * kind's settings form (rendered from its JSON Schema) with the node's name, tick, weight, tags and
 * rules. Closing it keeps what was typed for next time.
 */
export function openNodeForm(o: {
  api: Api;
  node?: BackendNode;
  connectors: ConnectorKindInfo[];
  variables: ReadonlyMap<string, string>;
  onSaved: (node: BackendNode, created: boolean) => void;
}): void {
  const draftKey = `node:${o.api.id}:${o.node?.id ?? 'new'}`;
  const stored = loadDraft<NodeDraft>(draftKey);
  const draft: NodeDraft = stored ?? draftOf(o.node);
  let restored = stored !== null;
  const modal = openModal({
    title: o.node ? `Edit node ${o.node.name}` : `Add a node to ${o.api.name}`,
    content: null,
    wide: true,
  });
  const save = () => saveDraft(draftKey, draft);

  function discardDraft(): void {
    clearDraft(draftKey);
    restored = false;
    Object.assign(draft, draftOf(o.node));
    if (draft.kind) showForm();
    else chooseKind();
  }

  function restoredNotice(): HTMLElement | null {
    if (!restored || !loadDraft(draftKey)) return null;
    return h(
      'div',
      { class: 'notice', role: 'status' },
      'Restored what you typed before. ',
      h('button', { type: 'button', class: 'btn-link', onclick: discardDraft }, 'Discard it'),
    );
  }

  function chooseKind(): void {
    const name = uid('kind');
    const radios = o.connectors.map((c) =>
      h('input', {
        type: 'radio',
        name,
        value: c.kind,
        id: uid('k'),
        checked: c.kind === (draft.kind ?? o.connectors[0]?.kind),
      }),
    );
    const next = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Next');
    const form = h(
      'form',
      { class: 'stack', novalidate: true },
      restoredNotice(),
      h(
        'fieldset',
        { class: 'field field-group choice-cards' },
        h('legend', null, 'Step 1 of 2: choose a connector'),
        h('p', { class: 'hint' }, 'A connector is the kind of backend the node is; each kind has its own settings.'),
        h(
          'div',
          { class: 'group-body' },
          radios.map((radio, i) => {
            const c = o.connectors[i]!;
            return h(
              'label',
              { class: 'choice', for: radio.id },
              radio,
              h(
                'span',
                null,
                h('strong', null, c.title),
                h('span', { class: 'muted small' }, c.description),
                h('code', { class: 'small' }, c.kind),
              ),
            );
          }),
        ),
      ),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => modal.close() }, 'Cancel'),
        next,
      ),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const picked = radios.find((r) => r.checked)?.value;
      if (!picked) return;
      draft.kind = picked;
      save();
      showForm();
    });
    modal.body.replaceChildren(form);
    (radios.find((r) => r.checked) ?? radios[0])?.focus();
  }

  function showForm(): void {
    const kind = o.connectors.find((c) => c.kind === draft.kind);
    if (!kind) {
      draft.kind = null;
      chooseKind();
      return;
    }
    const name = h('input', {
      type: 'text',
      name: 'name',
      value: draft.name,
      autocomplete: 'off',
      maxlength: 100,
      placeholder: 'ip1-a',
    });
    const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: draft.enabled });
    const weight = h('input', {
      type: 'number',
      name: 'weight',
      min: 1,
      max: 10000,
      step: 1,
      inputmode: 'numeric',
      value: draft.weight,
    });
    const tags = h('input', {
      type: 'text',
      name: 'tags',
      value: draft.tags,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'temp, eu',
    });
    const sync = () => {
      draft.name = name.value;
      draft.enabled = enabled.checked;
      draft.weight = weight.value;
      draft.tags = tags.value;
      draft.settings[kind.kind] = settings.read();
      draft.rules = rules.read();
      save();
    };
    const settings = schemaForm(kind.settings, draft.settings[kind.kind] ?? {}, 'connector', sync);
    const rules = rulesEditor(draft.rules, o.variables, sync);
    const submit = h(
      'button',
      { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Saving…' } },
      o.node ? 'Save node' : 'Add node',
    );
    const change = h('button', { type: 'button', class: 'btn btn-small btn-quiet' }, 'Change connector');
    change.addEventListener('click', () => {
      sync();
      chooseKind();
    });
    const form = h(
      'form',
      { class: 'stack node-form', novalidate: true },
      restoredNotice(),
      formErrorBox(),
      h(
        'div',
        { class: 'connector-chosen', dataset: { path: 'connector' } },
        h(
          'div',
          null,
          h('span', { class: 'muted small' }, o.node ? 'Connector' : 'Step 2 of 2 · connector'),
          h('strong', null, ` ${kind.title} `),
          h('code', { class: 'small' }, kind.kind),
        ),
        change,
        h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true }),
      ),
      h(
        'div',
        { class: 'grid-2' },
        field({ label: 'Name', path: 'name', control: name, required: true }),
        field({
          label: 'Weight',
          path: 'weight',
          control: weight,
          hint: '1–10000; used by the weighted and IP hash algorithms.',
        }),
      ),
      h('fieldset', { class: 'field-group plain' }, h('legend', null, `${kind.title} settings`), settings.element),
      h(
        'div',
        { class: 'grid-2' },
        field({
          label: 'Tags',
          path: 'tags',
          control: tags,
          hint: ['Separate with commas. Selectors filter on them (', h('code', null, 'temp'), ' marks a canary).'],
        }),
        checkboxField({
          label: 'Enabled (ticked)',
          path: 'enabled',
          control: enabled,
          hint: 'An unticked node takes no traffic.',
        }),
      ),
      rules.element,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => modal.close() }, 'Cancel'),
        submit,
      ),
    );
    form.addEventListener('input', sync);
    form.addEventListener('change', sync);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      sync();
      clearErrors(form);
      const body = {
        name: name.value.trim(),
        connector: { kind: kind.kind, ...settings.read() },
        enabled: enabled.checked,
        weight:
          weight.value.trim() === '' ? 1 : Number.isFinite(Number(weight.value)) ? Number(weight.value) : weight.value,
        tags: splitList(tags.value),
        rules: rules.read() as Rule[],
      };
      void busy(submit, async () => {
        try {
          if (o.node) {
            // A change of tick or rules that leaves an API without a node asks first (issue 17).
            const { go } = await confirmWithImpact({
              method: 'PATCH',
              path: paths.node(o.api.id, o.node.id),
              body,
              title: `Save node ${o.node.name}?`,
              confirmLabel: 'Save node',
            });
            if (!go) return;
          }
          const saved = o.node
            ? await admin.patchNode(o.api.id, o.node.id, body)
            : await admin.createNode(o.api.id, body);
          clearDraft(draftKey);
          modal.close();
          o.onSaved(saved, !o.node);
        } catch (err) {
          showErrors(form, err);
        }
      });
    });
    modal.body.replaceChildren(form);
    name.focus();
  }

  if (draft.kind) showForm();
  else chooseKind();
}
