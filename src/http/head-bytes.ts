/**
 * Byte checks shared by the request parser (client side) and the response parser (upstream side).
 * A loop over the head's bytes costs a third of what the equivalent regular expression costs on the
 * decoded text, and both parsers run it on every message.
 */

/**
 * True when bytes [start, end) of `buf` hold a control character other than HTAB, or a CR that is
 * not followed by LF within the range; with `bareLf`, also an LF that does not follow a CR.
 */
export function hasBadHeadByte(buf: Uint8Array, start: number, end: number, bareLf: boolean): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x20) {
      if (c === 0x7f) return true;
      continue;
    }
    if (c === 0x09) continue;
    if (c === 0x0d) {
      if (i + 1 >= end || buf[i + 1] !== 0x0a) return true;
      i++; // the LF of this CRLF
      continue;
    }
    if (c === 0x0a && !bareLf) continue;
    return true;
  }
  return false;
}
