// Reading the test panel's text fields into a sample request. No DOM here, so unit tests can load it.

/** `a=1&b=2&b=3` (a leading `?` is fine) → `{a: "1", b: ["2", "3"]}`. */
export function parseQuery(text: string): Record<string, string | string[]> {
  // No prototype: a parameter named `constructor` or `__proto__` is a key like any other.
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(text.trim().replace(/^\?/, ''))) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** `Name: value` lines → headers with lower-cased names, or the number of the first line without a colon. */
export function parseHeaders(text: string): { headers: Record<string, string | string[]> } | { badLine: number } {
  const headers = Object.create(null) as Record<string, string | string[]>;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return { badLine: i + 1 };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { headers };
}
