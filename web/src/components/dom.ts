/** What `h` accepts as children: nodes, text, nested lists; null/false/undefined are skipped. */
export type Child = Node | string | number | null | undefined | false | Child[];

/** Attributes and event listeners of `h`: `onclick: fn` listens, booleans toggle, the rest are attributes. */
export type Attrs = Record<string, unknown>;

// Set as properties, not attributes, so the live state (not just the initial one) follows.
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'indeterminate', 'hidden', 'readOnly']);

/**
 * Creates an element. Text always goes in as text nodes, never as HTML, so values from the API cannot
 * inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Applies `h`-style attributes to an existing element. */
export function setAttrs(el: HTMLElement, attrs: Attrs): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (key === 'class') {
      el.className = String(value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (PROPERTIES.has(key)) {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else if (value !== false) {
      el.setAttribute(key, String(value));
    }
  }
}

/** Appends children (flattening lists, skipping empties). */
export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else
      el.appendChild(
        typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child,
      );
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let idCounter = 0;

/** A page-unique id for label/aria wiring. */
export function uid(prefix = 'id'): string {
  idCounter++;
  return `${prefix}-${idCounter}`;
}

/** A screen-reader-only text. */
export function srOnly(text: string): HTMLSpanElement {
  return h('span', { class: 'sr-only' }, text);
}
