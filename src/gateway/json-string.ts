// Characters that may stand in a JSON string as they are (no quote, backslash or control character).
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `value` as a JSON string (or null), for the access log's hand-built lines. */
export function jsonString(value: string | null): string {
  if (value === null) return 'null';
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}
