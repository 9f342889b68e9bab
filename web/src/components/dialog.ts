import { h, uid, type Child } from './dom.js';

/** An open modal dialog. */
export interface Modal {
  dialog: HTMLDialogElement;
  body: HTMLElement;
  close(): void;
}

/**
 * Opens a native modal `<dialog>`: focus is trapped inside, Escape closes it and focus goes back to
 * the element that opened it. `onClose` runs once however it was closed; `close()` removes the
 * dialog before it returns.
 */
export function openModal(o: { title: string; content: Child; onClose?: () => void; wide?: boolean }): Modal {
  const opener = document.activeElement as HTMLElement | null;
  const titleId = uid('dlg-title');
  const body = h('div', { class: 'modal-body' }, o.content);
  const closeButton = h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': 'Close' }, '×');
  const dialog = h(
    'dialog',
    { class: `modal${o.wide ? ' modal-wide' : ''}`, 'aria-labelledby': titleId },
    h('div', { class: 'modal-head' }, h('h2', { id: titleId }, o.title), closeButton),
    body,
  );
  let closed = false;
  // The browser fires 'close' a task later; closing through close() finishes at once, so whatever
  // runs next (a list redrawn after a save) never sees the dialog still in the page.
  const finish = () => {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    o.onClose?.();
    if (opener?.isConnected) opener.focus();
  };
  closeButton.addEventListener('click', finish);
  dialog.addEventListener('close', finish);
  document.body.appendChild(dialog);
  dialog.showModal();
  return { dialog, body, close: finish };
}

/** Asks a yes/no question in a modal; resolves true only when the confirm button was pressed. */
export function confirmDialog(o: {
  title: string;
  message: Child;
  confirmLabel: string;
  danger?: boolean;
}): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h(
      'button',
      { type: 'button', class: `btn ${o.danger ? 'btn-danger' : 'btn-primary'}` },
      o.confirmLabel,
    );
    const no = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    const modal = openModal({
      title: o.title,
      content: [h('div', { class: 'confirm-message' }, o.message), h('div', { class: 'actions' }, no, yes)],
      onClose: () => resolve(answer),
    });
    yes.addEventListener('click', () => {
      answer = true;
      modal.close();
    });
    no.addEventListener('click', () => modal.close());
    // The safe choice has focus first, so Enter on an unexpected dialog does not destroy anything.
    no.focus();
  });
}
