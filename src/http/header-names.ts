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

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Walks the field lines of a head whose bytes were checked (CRLF line ends only, no control
 * character), after its first line: each line's name as sent and its value without surrounding
 * spaces and tabs. A line without a colon or name, or a name that is not a token (a space before the
 * colon, obsolete line folding), is thrown as the parser's own error. One per parser, reset per head.
 */
export class FieldLines {
  name = '';
  value = '';
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
    this.value = trimmedSlice(text, colon + 1, eol);
    return true;
  }
}
