import { h } from './dom.js';
import { notify } from './notify.js';

/** Selects the text of an element, so Ctrl+C (or the browser's copy command) takes it. */
function selectText(el: HTMLElement): void {
  const range = document.createRange();
  range.selectNodeContents(el);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
}

/**
 * Puts `text` on the clipboard: the Clipboard API where the page is a secure context, else the
 * selection and the browser's copy command (a console opened over plain HTTP on another host has no
 * Clipboard API). Resolves whether it worked; when not, the text is left selected.
 */
export async function copyText(text: string, source: HTMLElement): Promise<boolean> {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Refused (no permission, page not focused): fall back to the selection.
    }
  }
  selectText(source);
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

/** A "Copy" button for the text shown in `source`; says in a toast whether it was copied. */
export function copyButton(source: HTMLElement, label: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': label }, 'Copy');
  button.addEventListener('click', async () => {
    const ok = await copyText(source.textContent ?? '', source);
    if (ok) {
      button.textContent = 'Copied';
      notify('Copied to the clipboard.');
    } else notify('Could not copy: the text is selected, press Ctrl+C (⌘C) to copy it.', 'error');
  });
  return button;
}
