import { HpackError } from './errors.js';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from './huffman-code.js';

// HPACK's Huffman decoding (RFC 7541 §5.2) as a state machine read four bits at a time: a state is a
// node of the code tree (256 inner nodes), and each (state, nibble) gives the next state and the
// symbol completed on the way, if any (every code is at least 5 bits long, so at most one).

const EOS = 256;
/** No symbol completed by this nibble. */
const NONE = -1;
/** The nibble completes EOS, which may not appear in a string (§5.2). */
const FAIL = -2;

/** Inner nodes: children as inner-node numbers (≥ 0) or leaves (-1 - symbol). */
const children: number[][] = [[0, 0]];
const depth: number[] = [0];
const allOnes: boolean[] = [true];
for (let sym = 0; sym <= EOS; sym++) {
  let node = 0;
  for (let bit = HUFFMAN_LENGTHS[sym]! - 1; bit >= 0; bit--) {
    const b = (HUFFMAN_CODES[sym]! >>> bit) & 1;
    if (bit === 0) {
      children[node]![b] = -1 - sym;
      break;
    }
    let next = children[node]![b]!;
    if (next <= 0) {
      next = children.length;
      children.push([0, 0]);
      depth.push(depth[node]! + 1);
      allOnes.push(allOnes[node]! && b === 1);
      children[node]![b] = next;
    }
    node = next;
  }
}

/** Per (state × 16 + nibble): the next state. */
const NEXT = new Uint8Array(children.length * 16);
/** Per (state × 16 + nibble): the symbol completed, NONE or FAIL. */
const EMIT = new Int16Array(children.length * 16);
for (let state = 0; state < children.length; state++) {
  for (let nibble = 0; nibble < 16; nibble++) {
    let node = state;
    let emit = NONE;
    for (let bit = 3; bit >= 0; bit--) {
      const next = children[node]![(nibble >>> bit) & 1]!;
      if (next > 0) {
        node = next;
        continue;
      }
      const sym = -1 - next;
      emit = sym === EOS ? FAIL : sym;
      node = 0;
      if (emit === FAIL) break;
    }
    NEXT[state * 16 + nibble] = node;
    EMIT[state * 16 + nibble] = emit;
  }
}

/** States where decoding may end: the root, or a path of at most 7 one-bits (padding, a prefix of EOS). */
const ACCEPTS = new Uint8Array(children.length);
for (let state = 0; state < children.length; state++) ACCEPTS[state] = allOnes[state]! && depth[state]! <= 7 ? 1 : 0;

let scratch = Buffer.allocUnsafe(4096);

/** Decodes `buf[start, end)` as a Huffman-coded string (latin1); throws HpackError on EOS or bad padding. */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  // The shortest code is 5 bits: at most 8/5 symbols a byte.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    let at = state * 16 + (byte >>> 4);
    let emit = EMIT[at]!;
    if (emit !== NONE) {
      if (emit === FAIL) throw new HpackError('a Huffman-coded string contains EOS');
      out[n++] = emit;
    }
    state = NEXT[at]!;
    at = state * 16 + (byte & 15);
    emit = EMIT[at]!;
    if (emit !== NONE) {
      if (emit === FAIL) throw new HpackError('a Huffman-coded string contains EOS');
      out[n++] = emit;
    }
    state = NEXT[at]!;
  }
  if (ACCEPTS[state] === 0) throw new HpackError('a Huffman-coded string ends in invalid padding');
  return out.toString('latin1', 0, n);
}

/** Encodes latin1 `text` with the Huffman code (for tests and clients; responses are sent as plain literals). */
export function huffmanEncode(text: string): Buffer {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += HUFFMAN_LENGTHS[text.charCodeAt(i) & 0xff]!;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let acc = 0;
  let accBits = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    while (len > 0) {
      const take = Math.min(len, 8 - accBits);
      acc = (acc << take) | ((code >>> (len - take)) & ((1 << take) - 1));
      accBits += take;
      len -= take;
      if (accBits === 8) {
        out[n++] = acc;
        acc = 0;
        accBits = 0;
      }
    }
  }
  if (accBits > 0) out[n] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1);
  return out;
}
