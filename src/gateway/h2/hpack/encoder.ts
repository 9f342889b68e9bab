import { STATIC_NAME_INDEX } from './static-table.js';

// Response header blocks (RFC 7541) without the dynamic table: every field is a literal without
// indexing (§6.2.2), its name by static index when it has one, strings plain (not Huffman-coded).
// The peer's decoder state never changes, so no SETTINGS_HEADER_TABLE_SIZE of the client can matter,
// and nothing a node sends can be used to probe another response's headers (no shared table).

/** `:status` values the static table holds whole (index 8-14). */
const STATUS_INDEX: Readonly<Record<number, number>> = { 200: 8, 204: 9, 206: 10, 304: 11, 400: 12, 404: 13, 500: 14 };
/** The static index of `:status`'s name. */
const STATUS_NAME = 8;

let scratch = Buffer.allocUnsafe(16 * 1024);

/**
 * Encodes a response head: `:status`, then `fields` (flat `[name, value, …]`, names already
 * lower-case, values latin1). Returns a new Buffer.
 */
export function encodeResponseHead(status: number, fields: readonly string[]): Buffer {
  // Each field costs at most its strings plus 2 × 5 bytes of integers and a prefix byte.
  let most = 16;
  for (let i = 0; i < fields.length; i++) most += fields[i]!.length + 6;
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0;
  const whole = STATUS_INDEX[status];
  if (whole !== undefined) out[n++] = 0x80 | whole;
  else {
    out[n++] = STATUS_NAME; // 4-bit prefix: 8 fits
    n = writeString(out, n, String(status));
  }
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const index = STATIC_NAME_INDEX.get(name);
    if (index === undefined) {
      out[n++] = 0;
      n = writeString(out, n, name);
    } else n = writeInteger(out, n, index, 4, 0);
    n = writeString(out, n, fields[i + 1]!);
  }
  return Buffer.from(out.subarray(0, n));
}

/** Writes an integer with an N-bit prefix (§5.1) after the pattern bits `first`; returns the next offset. */
function writeInteger(out: Buffer, at: number, value: number, prefix: number, first: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out[at++] = first | value;
    return at;
  }
  out[at++] = first | max;
  value -= max;
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

/** Writes a plain string literal (§5.2, H = 0); returns the next offset. */
function writeString(out: Buffer, at: number, text: string): number {
  at = writeInteger(out, at, text.length, 7, 0);
  return at + out.write(text, at, 'latin1');
}
