import { ApiError, errorText } from '../api.js';
import { errorSentence, fieldMessage, fieldOfCode } from '../words.js';
import { h, uid, type Child } from './dom.js';

/** A labelled control. */
export interface FieldOptions {
  label: string;
  /** The body path the API names in its error details (`connector.url`, `timeouts.connectMs`). */
  path: string;
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  hint?: Child;
  required?: boolean;
  class?: string;
}

/**
 * A field: label, control, hint and an error line that announces itself. Errors for `path` (or a path
 * under it) land in the error line; the control is marked invalid and described by it.
 */
export function field(o: FieldOptions): HTMLDivElement {
  const id = o.control.id || uid('f');
  o.control.id = id;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  o.control.setAttribute('aria-describedby', o.hint ? `${hintId} ${errorId}` : errorId);
  if (o.required) o.control.setAttribute('aria-required', 'true');
  return h(
    'div',
    { class: `field ${o.class ?? ''}`.trim(), dataset: { path: o.path } },
    h('label', { for: id }, o.label, o.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    o.control,
    o.hint ? h('p', { class: 'hint', id: hintId }, o.hint) : null,
    h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite', hidden: true }),
  );
}

/** A checkbox with its label beside it, as a field whose errors show under it. */
export function checkboxField(o: {
  label: string;
  path: string;
  control: HTMLInputElement;
  hint?: Child;
}): HTMLDivElement {
  const id = o.control.id || uid('f');
  o.control.id = id;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  o.control.setAttribute('aria-describedby', o.hint ? `${hintId} ${errorId}` : errorId);
  return h(
    'div',
    { class: 'field field-check', dataset: { path: o.path } },
    h('div', { class: 'check' }, o.control, h('label', { for: id }, o.label)),
    o.hint ? h('p', { class: 'hint', id: hintId }, o.hint) : null,
    h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite', hidden: true }),
  );
}

/** A group of controls under a legend (methods, timeouts), with one error line for the group path. */
export function fieldGroup(o: {
  legend: string;
  path: string;
  children: Child[];
  hint?: Child;
  class?: string;
}): HTMLFieldSetElement {
  const errorId = uid('g-error');
  return h(
    'fieldset',
    { class: `field field-group ${o.class ?? ''}`.trim(), dataset: { path: o.path }, 'aria-describedby': errorId },
    h('legend', null, o.legend),
    o.hint ? h('p', { class: 'hint' }, o.hint) : null,
    h('div', { class: 'group-body' }, o.children),
    h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite', hidden: true }),
  );
}

/** The box at the top of a form for errors that are about no single field. */
export function formErrorBox(): HTMLDivElement {
  return h('div', { class: 'form-error', role: 'alert', hidden: true });
}

/** The alert shown in place of a list or page that failed to load: the error in words (errorText). */
export function loadErrorBox(err: unknown): HTMLDivElement {
  return h('div', { class: 'form-error', role: 'alert' }, errorText(err));
}

/** Removes every error shown in a form. */
export function clearErrors(root: HTMLElement): void {
  for (const el of root.querySelectorAll<HTMLElement>('.field-error')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const el of root.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of root.querySelectorAll<HTMLElement>('.form-error')) {
    el.replaceChildren();
    el.hidden = true;
  }
}

/** Finds the field for an error path: the exact path, else the nearest enclosing one (`tags.2` → `tags`). */
function fieldFor(root: HTMLElement, path: string): HTMLElement | null {
  const parts = path.split('.');
  while (parts.length > 0) {
    const p = parts.join('.');
    const el = root.querySelector<HTMLElement>(`[data-path="${CSS.escape(p)}"]`);
    if (el) return el;
    parts.pop();
  }
  return null;
}

/** Shows a message on one field (by path); returns false when the form has no such field. */
export function showFieldError(root: HTMLElement, path: string, message: string): boolean {
  const container = fieldFor(root, path);
  if (!container) return false;
  const line = container.querySelector<HTMLElement>(':scope > .field-error');
  if (!line) return false;
  line.textContent = line.textContent ? `${line.textContent} ${message}` : message;
  line.hidden = false;
  const control = container.querySelector<HTMLElement>('input, select, textarea, [contenteditable="true"]');
  (control ?? container).setAttribute('aria-invalid', 'true');
  return true;
}

/** Shows a message in the form's error box. */
export function showFormError(root: HTMLElement, message: string, extra: string[] = []): void {
  const box = root.querySelector<HTMLElement>('.form-error');
  if (!box) return;
  box.replaceChildren(h('p', null, message));
  if (extra.length)
    box.appendChild(
      h(
        'ul',
        null,
        extra.map((e) => h('li', null, e)),
      ),
    );
  box.hidden = false;
}

/** Options of showErrors. */
export interface ShowErrorsOptions {
  /** Rewrites a detail path before looking for its field (e.g. to drop a body prefix). */
  mapPath?: (path: string) => string;
  /** Whether to move focus to the first field in error (default true). */
  focus?: boolean;
}

/**
 * Shows an admin error in a form: each detail next to its field, in plain words; what matches no field
 * goes to the form's error box together with the error's own message. Focus moves to the first field
 * in error so keyboard users land on it.
 */
export function showErrors(root: HTMLElement, err: unknown, options: ShowErrorsOptions = {}): void {
  clearErrors(root);
  if (!(err instanceof ApiError)) {
    showFormError(root, `Something went wrong: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  const unmatched: string[] = [];
  let placed = 0;
  for (const d of err.details) {
    const path = options.mapPath ? options.mapPath(d.path) : d.path;
    const where = d.line !== undefined ? `Line ${d.line}${d.column !== undefined ? `, column ${d.column}` : ''}: ` : '';
    const text = where + fieldMessage(d.message);
    if (showFieldError(root, path, text)) placed++;
    else unmatched.push(path ? `${path}: ${text}` : text);
  }
  if (err.details.length === 0) {
    const path = fieldOfCode(err.code);
    if (path && showFieldError(root, path, errorSentence(err.code, err.message))) placed++;
  }
  if (placed === 0 || unmatched.length > 0) {
    const head = placed > 0 ? 'Some values need another look:' : errorSentence(err.code, err.message);
    showFormError(root, head, unmatched);
  }
  if (options.focus !== false) {
    const first = root.querySelector<HTMLElement>('[aria-invalid="true"]');
    if (first && typeof first.focus === 'function') first.focus();
  }
}

/** A button that shows it is working and cannot be pressed twice while `run` is pending. */
export async function busy<T>(button: HTMLButtonElement, run: () => Promise<T>): Promise<T> {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
  try {
    return await run();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}
