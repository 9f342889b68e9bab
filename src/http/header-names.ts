/**
 * Header-name and field-value helpers shared by the parsers and the proxy stage. They compare and
 * slice without lower-casing or hashing a fresh string: both cost more than the comparison itself on
 * every header of every message.
 */

/** True when `name` equals `lower` (lower-case ASCII) ignoring ASCII case. */
export function sameName(name: string, lower: string): boolean {
  const n = name.length;
  if (n !== lower.length) return false;
  for (let i = 0; i < n; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32; // A-Z
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** A case-insensitive membership test for a fixed set of lower-case header names. */
export function headerNameSet(names: readonly string[]): (name: string) => boolean {
  const byLength: string[][] = [];
  for (const n of names) (byLength[n.length] ??= []).push(n);
  return (name) => {
    const candidates = byLength[name.length];
    if (candidates === undefined) return false;
    for (let i = 0; i < candidates.length; i++) if (sameName(name, candidates[i]!)) return true;
    return false;
  };
}

/** `text.slice(start, end)` without leading and trailing optional whitespace (SP and HTAB only, RFC 9110 §5.6.3). */
export function trimmedSlice(text: string, start: number, end: number): string {
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** The decimal number `text` spells with 1 to `maxDigits` digits and nothing else, or -1. */
export function decimal(text: string, maxDigits: number): number {
  const n = text.length;
  if (n === 0 || n > maxDigits) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** `Connection: close` (a bit of `connectionOptions`). */
export const CONNECTION_CLOSE = 1;
/** `Connection: keep-alive` (a bit of `connectionOptions`). */
export const CONNECTION_KEEP_ALIVE = 2;

/**
 * The `close` and `keep-alive` options of a Connection value (RFC 9110 §7.6.1) as bits, each a whole
 * token in any case (`closed` or `close;x` is neither), as llhttp reads them too.
 */
export function connectionOptions(value: string): number {
  let bits = 0;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end < 0) end = value.length;
    let a = start;
    let b = end;
    while (a < b && isOws(value.charCodeAt(a))) a++;
    while (b > a && isOws(value.charCodeAt(b - 1))) b--;
    if (b - a === 5 && sameName(value.slice(a, b), 'close')) bits |= CONNECTION_CLOSE;
    else if (b - a === 10 && sameName(value.slice(a, b), 'keep-alive')) bits |= CONNECTION_KEEP_ALIVE;
    start = end + 1;
  }
  return bits;
}

/**
 * Removes from `headers` (flat `[name, value, …]`) every field a Connection value names (RFC 9110
 * §7.6.1: connection options are hop-by-hop), except `keep` (lower-case; `upgrade` in a 101) and the
 * fields before index `from` (the gateway's own).
 */
export function dropConnectionOptions(headers: string[], connection: string, keep?: string, from = 0): void {
  const names = new Set(connection.split(',').map((t) => t.trim().toLowerCase()));
  if (keep !== undefined) names.delete(keep);
  names.delete('');
  if (names.size === 0) return;
  for (let i = headers.length - 2; i >= from; i -= 2) {
    if (names.has(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}

/** True when `text` is a non-empty token (RFC 9110 §5.6.2), as a header name or method must be. */
export function isToken(text: string): boolean {
  const n = text.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TOKEN_CHAR[c] === 0) return false;
  }
  return true;
}

/** True when the byte `c` is a tchar (RFC 9110 §5.6.2). */
export function isTokenByte(c: number): boolean {
  return c < 128 && TOKEN_CHAR[c] === 1;
}

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TOKEN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Walks the field lines of a head whose bytes were checked (CRLF line ends only, no control
 * character), after its first line: each line's name as sent and its value without surrounding
 * spaces and tabs. A line without a colon or name, or a name that is not a token (a space before the
 * colon, obsolete line folding), is thrown as the parser's own error. One per parser, reset per head.
 */
export class FieldLines {
  name = '';
  value = '';
  /**
   * The line had a tab after its value. llhttp refuses one after Content-Length's digits and after
   * Transfer-Encoding's `chunked` (a space there it takes), so the parsers refuse it there too: a node
   * reading with llhttp must never see a request the gateway framed as it does not.
   */
  tabAfter = false;
  private text = '';
  private at = 0;

  constructor(private readonly fail: (message: string) => Error) {}

  /** Starts on the head `text`, whose first line ends at `firstLineEnd`. */
  reset(text: string, firstLineEnd: number): void {
    this.text = text;
    this.at = firstLineEnd + 2;
  }

  /** Reads the next line into `name` and `value`; false past the last one. */
  next(): boolean {
    const text = this.text;
    const at = this.at;
    if (at >= text.length) {
      this.text = ''; // the head is not kept past its parse
      return false;
    }
    let eol = text.indexOf('\r\n', at);
    if (eol < 0) eol = text.length;
    this.at = eol + 2;
    const colon = text.indexOf(':', at);
    if (colon <= at || colon > eol) throw this.fail('invalid header line');
    const name = text.slice(at, colon);
    if (!isToken(name)) throw this.fail('invalid header name');
    this.name = name;
    let start = colon + 1;
    let end = eol;
    while (start < end && isOws(text.charCodeAt(start))) start++;
    let tab = false;
    for (let c = text.charCodeAt(end - 1); end > start && isOws(c); c = text.charCodeAt(--end - 1))
      if (c === 9) tab = true;
    this.value = text.slice(start, end);
    this.tabAfter = tab;
    return true;
  }
}
