import { HpackError } from './errors.js';
import { huffmanDecode } from './huffman.js';
import { STATIC_COUNT, STATIC_TABLE } from './static-table.js';

/** What one header block decoded to. */
export interface DecodedBlock {
  /** Flat `[name, value, …]` in the order sent; cut short once a bound below was passed. */
  fields: string[];
  /** The header list's size as RFC 9113 §6.5.2 counts it: names, values and 32 per field. */
  listSize: number;
  /** The list passed `maxListSize` or `maxFields`: `fields` is incomplete and the request is refused. */
  tooLarge: boolean;
}

/** Each dynamic-table entry's overhead (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;
/** The largest integer a header block may carry (a length or an index); anything larger is an attack. */
const MAX_INTEGER = 0x00ffffff;
/** Continuation bits an integer may take: 4 bytes of 7, past MAX_INTEGER's 24 bits. */
const MAX_INTEGER_SHIFT = 28;

/**
 * An HPACK decoder (RFC 7541) for one connection's request header blocks: the dynamic table, sized by
 * our SETTINGS_HEADER_TABLE_SIZE, and limits on what one block may expand to. Every block must be
 * decoded in order, even one whose request is refused, or the table goes out of step.
 */
export class HpackDecoder {
  /** The dynamic table, oldest entry first (index STATIC_COUNT + 1 is the last). */
  private readonly entries: [string, string][] = [];
  private size = 0;
  private pos = 0;
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    /** SETTINGS_HEADER_TABLE_SIZE as we advertised it: the most a size update may ask for. */
    private readonly maxTableSize: number,
    private readonly maxListSize: number,
    private readonly maxFields: number,
    /** The table's size now, which the encoder may lower by a size update. */
    private tableSize = maxTableSize,
  ) {}

  /** Decodes one whole header block; throws HpackError when it is malformed (a connection error). */
  decode(block: Buffer): DecodedBlock {
    this.buf = block;
    this.pos = 0;
    const fields: string[] = [];
    let listSize = 0;
    let tooLarge = false;
    let first = true;
    while (this.pos < block.length) {
      const b = block[this.pos]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed field (§6.1).
        const entry = this.entry(this.integer(7));
        name = entry[0];
        value = entry[1];
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = this.integer(6);
        name = index === 0 ? this.string() : this.entry(index)[0];
        value = this.string();
        this.insert(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (!first) throw new HpackError('a table size update follows a field');
        const size = this.integer(5);
        if (size > this.maxTableSize) throw new HpackError('a table size update exceeds SETTINGS_HEADER_TABLE_SIZE');
        this.tableSize = size;
        this.evict(0);
        continue;
      } else {
        // Literal without indexing or never indexed (§6.2.2, §6.2.3).
        const index = this.integer(4);
        name = index === 0 ? this.string() : this.entry(index)[0];
        value = this.string();
      }
      first = false;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (tooLarge) continue;
      if (listSize > this.maxListSize || fields.length >= this.maxFields * 2) {
        tooLarge = true;
        continue;
      }
      fields.push(name, value);
    }
    this.buf = Buffer.alloc(0);
    return { fields, listSize, tooLarge };
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_COUNT) return STATIC_TABLE[index]!;
    const entry = this.entries[this.entries.length - (index - STATIC_COUNT)];
    if (entry === undefined) throw new HpackError(`index ${index} is past the table`);
    return entry;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    // An entry larger than the table empties it and is not added (§4.4).
    if (size > this.tableSize) return;
    this.entries.push([name, value]);
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    let drop = 0;
    while (this.size + room > this.tableSize && drop < this.entries.length) {
      const [name, value] = this.entries[drop++]!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
    }
    if (drop > 0) this.entries.splice(0, drop);
  }

  /** An integer with an N-bit prefix (§5.1). */
  private integer(prefix: number): number {
    const buf = this.buf;
    const max = (1 << prefix) - 1;
    let value = buf[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new HpackError('an integer runs past the block');
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      // Zero continuation bytes would never grow the value: the integer's length is bounded too.
      if (value > MAX_INTEGER || shift > MAX_INTEGER_SHIFT) throw new HpackError('an integer is too large');
      if ((b & 0x80) === 0) return value;
    }
  }

  /** A string literal (§5.2), plain or Huffman-coded. */
  private string(): string {
    const buf = this.buf;
    if (this.pos >= buf.length) throw new HpackError('a string is missing');
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > buf.length) throw new HpackError('a string runs past the block');
    this.pos = end;
    return huffman ? huffmanDecode(buf, start, end) : buf.toString('latin1', start, end);
  }
}
