// What the user typed but did not save yet, per form, in sessionStorage: it survives closing a dialog,
// leaving the page, a reload and a trip through sign-in after a 401, and goes with the tab.

const PREFIX = 'isogate.draft.';

/** The saved draft of a form, or null. */
export function loadDraft<T>(key: string): T | null {
  const raw = sessionStorage.getItem(PREFIX + key);
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/** Saves a form's draft; a full storage only loses the draft, never the page. */
export function saveDraft(key: string, value: unknown): void {
  try {
    sessionStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Quota exceeded: the form itself still holds the text.
  }
}

/** Forgets a form's draft (after a successful save, or when the user discards it). */
export function clearDraft(key: string): void {
  sessionStorage.removeItem(PREFIX + key);
}

/** Forgets every draft (on sign-out). */
export function clearAllDrafts(): void {
  for (let i = sessionStorage.length - 1; i >= 0; i--) {
    const key = sessionStorage.key(i);
    if (key?.startsWith(PREFIX)) sessionStorage.removeItem(key);
  }
}
