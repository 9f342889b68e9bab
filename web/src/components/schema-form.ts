import type { JsonSchema } from '../types.js';
import { h } from './dom.js';
import { checkboxField, field } from './form.js';

/** A form rendered from a JSON Schema object: its element and how to read the values back. */
export interface SchemaForm {
  element: HTMLElement;
  /** The values typed so far, typed by the schema; blank optional fields are left out. */
  read(): Record<string, unknown>;
}

// Words some keys read better as.
const KNOWN_LABELS: Record<string, string> = { url: 'URL', uri: 'URI', ip: 'IP', id: 'ID', tls: 'TLS' };

/** `baseUrl` → "Base URL", `connect_ms` → "Connect ms". */
export function labelOf(key: string, schema: JsonSchema): string {
  if (schema.title) return schema.title;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .split(' ')
    .map((w) => KNOWN_LABELS[w.toLowerCase()] ?? w.toLowerCase());
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function typeOf(schema: JsonSchema): string {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null') ?? 'string';
  if (schema.type) return schema.type;
  if (schema.enum) return typeof schema.enum[0];
  return 'string';
}

/**
 * Renders a connector's settings schema (as `GET /admin/connectors` gives it) as labelled fields named
 * by `pathPrefix.key`, so the API's error details for `connector.url` land next to the URL field.
 * Strings, numbers, booleans, enums and string lists get real controls; anything else a JSON box.
 */
export function schemaForm(
  schema: JsonSchema,
  values: Record<string, unknown>,
  pathPrefix: string,
  onInput?: () => void,
): SchemaForm {
  const required = new Set(schema.required ?? []);
  const readers: Array<[string, () => unknown]> = [];
  const fields: HTMLElement[] = [];
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (prop.const !== undefined) continue;
    const path = `${pathPrefix}.${key}`;
    const label = labelOf(key, prop);
    const isRequired = required.has(key);
    const initial = values[key] ?? prop.default;
    const type = typeOf(prop);
    const hint = prop.description;
    if (prop.enum) {
      const select = h(
        'select',
        { name: path },
        isRequired ? null : h('option', { value: '' }, '(not set)'),
        prop.enum.map((v) =>
          h('option', { value: String(v), selected: String(v) === String(initial ?? '') }, String(v)),
        ),
      );
      readers.push([key, () => (select.value === '' ? undefined : prop.enum!.find((v) => String(v) === select.value))]);
      fields.push(field({ label, path, control: select, hint, required: isRequired }));
    } else if (type === 'boolean') {
      const box = h('input', { type: 'checkbox', name: path, checked: initial === true });
      readers.push([key, () => box.checked]);
      fields.push(checkboxField({ label, path, control: box, hint }));
    } else if (type === 'integer' || type === 'number') {
      const input = h('input', {
        type: 'number',
        name: path,
        inputmode: type === 'integer' ? 'numeric' : 'decimal',
        step: type === 'integer' ? '1' : 'any',
        min: prop.minimum,
        max: prop.maximum,
        value: initial === undefined ? '' : String(initial),
      });
      // A value the browser cannot parse reads as '' — send the raw text so the API names the problem.
      readers.push([
        key,
        () =>
          input.value.trim() === '' ? (input.validity.badInput ? 'not a number' : undefined) : Number(input.value),
      ]);
      fields.push(field({ label, path, control: input, hint, required: isRequired }));
    } else if (type === 'array' && typeOfItems(prop) === 'string') {
      const input = h('input', {
        type: 'text',
        name: path,
        value: Array.isArray(initial) ? initial.join(', ') : '',
        autocomplete: 'off',
      });
      readers.push([key, () => splitList(input.value)]);
      fields.push(
        field({ label, path, control: input, hint: hint ?? 'Separate values with commas.', required: isRequired }),
      );
    } else if (type === 'string') {
      const isUrl = prop.format === 'uri' || /url$/i.test(key);
      const input = h('input', {
        type: isUrl ? 'url' : 'text',
        name: path,
        value: initial === undefined ? '' : String(initial),
        maxlength: prop.maxLength,
        autocomplete: 'off',
        spellcheck: 'false',
        placeholder: isUrl ? 'http://10.0.0.1:8080' : undefined,
      });
      readers.push([key, () => (input.value.trim() === '' && !isRequired ? undefined : input.value.trim())]);
      fields.push(field({ label, path, control: input, hint, required: isRequired }));
    } else {
      const area = h(
        'textarea',
        { name: path, rows: 4, spellcheck: 'false' },
        initial === undefined ? '' : JSON.stringify(initial, null, 2),
      );
      readers.push([
        key,
        () => {
          if (area.value.trim() === '') return undefined;
          try {
            return JSON.parse(area.value) as unknown;
          } catch {
            return area.value;
          }
        },
      ]);
      fields.push(field({ label, path, control: area, hint: hint ?? 'JSON', required: isRequired }));
    }
  }
  const element = h('div', { class: 'schema-form' }, fields);
  if (onInput) element.addEventListener('input', onInput);
  return {
    element,
    read() {
      const out: Record<string, unknown> = {};
      for (const [key, read] of readers) {
        const v = read();
        if (v !== undefined) out[key] = v;
      }
      return out;
    },
  };
}

function typeOfItems(schema: JsonSchema): string | undefined {
  return schema.items ? typeOf(schema.items) : undefined;
}

/** "a, b,,c" → ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
