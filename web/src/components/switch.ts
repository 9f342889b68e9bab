import { h } from './dom.js';

/**
 * An on/off switch: a real checkbox with `role="switch"`, so Space toggles it and screen readers say
 * "on"/"off". `label` is its accessible name.
 */
export function toggleSwitch(o: {
  checked: boolean;
  label: string;
  onchange: (checked: boolean, input: HTMLInputElement) => void;
  id?: string;
}): HTMLInputElement {
  const input = h('input', {
    type: 'checkbox',
    role: 'switch',
    class: 'switch',
    checked: o.checked,
    'aria-label': o.label,
    id: o.id,
  });
  input.addEventListener('change', () => o.onchange(input.checked, input));
  return input;
}
