import { afterAll, beforeAll, expect, it } from 'vitest';
import { huffmanEncode } from '../../../src/gateway/h2/hpack/huffman.js';
import { h2Request, h2Session } from '../../helpers/h2-client.js';
import { H2_HOST, startH2TestGateway, type H2TestGateway } from '../../helpers/h2-gateway.js';
import { data, encodeFields, F, frame, goaway, headers, literal, ping, PREFACE } from '../../helpers/h2-raw.js';
import { rawH2, rst, settings, T, windowUpdate, type Field, type RawFrame, type RawH2 } from '../../helpers/h2-raw.js';
import { scrape } from '../../helpers/metrics.js';
import { httpsGet } from '../../helpers/tls-client.js';

// A bounded, seeded fuzz of the HTTP/2 server codec: hostile connections of random frames, then
// checks that the gateway still answers and leaves no session (nor admission ticket) behind. Each
// connection's bytes depend only on the seed and its index: H2_FUZZ_SEED=<seed> replays a run.
const SEED = Number(process.env.H2_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
const CONNECTIONS = Number(process.env.H2_FUZZ_CONNECTIONS ?? 150);
// Connections at a time; connections between checks; silence after which one is done; longest wait for one.
const [PARALLEL, ROUND, QUIET_MS, MAX_WAIT_MS] = [5, 25, 300, 3_000];

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random choices from one PRNG, and one connection's stream ids (the next odd one, those opened, hostile ones). */
class Dice {
  private nextId = 1;
  private opened: number[] = [];
  constructor(readonly next: () => number) {}
  int = (n: number): number => Math.floor(this.next() * n);
  chance = (p: number): boolean => this.next() < p;
  pick = <V>(xs: readonly V[]): V => xs[this.int(xs.length)]!;
  bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => this.int(256)));
  /** A payload length: mostly small, sometimes up to 16,384, rarely past it. */
  length(): number {
    const r = this.next();
    if (r < 0.15) return 0;
    if (r < 0.6) return 1 + this.int(16);
    if (r < 0.85) return 17 + this.int(1_000);
    return r < 0.97 ? this.int(16_385) : 16_385 + this.int(4_000);
  }
  /** `count` points in [0, `length`), in order. */
  cuts = (count: number, length: number): number[] =>
    Array.from({ length: count }, () => this.int(length)).sort((a, b) => a - b);
  /** A new stream id, usually the next odd one. */
  open(): number {
    const id = this.nextId;
    this.nextId += 2 * (this.chance(0.1) ? 1 + this.int(50) : 1);
    this.opened.push(id);
    return id;
  }
  old = (): number => (this.opened.length === 0 ? 1 : this.pick(this.opened));
  any = (): number =>
    this.pick([0, 0, this.old(), this.nextId, this.nextId + 1, 2 + 2 * this.int(100), 0x7fffffff, this.int(2 ** 31)]);
}

const PATHS = ['/spread/x', '/spread/ok', '/slow', '/nowhere'];
const FIELDS: Field[] = [
  [':scheme', 'https'],
  [':authority', H2_HOST],
];
/** HPACK integers too large, or padded with zero continuation bytes; a table size update after a field. */
const BAD_INTEGERS = ['ffffffffff0f', '3fffff7f', '0f808080808000', '20'].map((hex) => Buffer.from(hex, 'hex'));

/** A request's header block (its path maybe of random bytes); sometimes with a field indexed, then referred to. */
function requestBlock(d: Dice, method: string): Buffer {
  const path = d.chance(0.8) ? d.pick(PATHS) : `/spread/${d.bytes(1 + d.int(9)).toString('latin1')}`;
  const block = encodeFields([[':method', method], ...FIELDS, [':path', path]]);
  return d.chance(0.7) ? block : Buffer.concat([block, literal('x-fuzz', `${d.int(1e6)}`, true), Buffer.from([0xbe])]);
}

/** Hostile HPACK: random bytes, Huffman garbage or bad padding, oversized integers, indexes past the table. */
function hpack(d: Dice): Buffer {
  const huff = (): Buffer => {
    const bad = d.pick([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x00])]);
    const s = d.chance(0.5) ? d.bytes(d.int(100)) : Buffer.concat([huffmanEncode('x-fuzz'), bad]);
    return Buffer.concat([Buffer.from([0x80 | s.length]), s]);
  };
  const parts = [
    () => d.bytes(d.length()),
    () => Buffer.concat([Buffer.from([d.pick([0x00, 0x10, 0x40])]), huff(), huff()]),
    () => d.pick(BAD_INTEGERS),
    () => Buffer.from([0x80 | (62 + d.int(60))]),
    () => requestBlock(d, 'GET'),
  ];
  return Buffer.concat(Array.from({ length: 1 + d.int(3) }, () => d.pick(parts)()));
}

/** A header block as HEADERS and CONTINUATIONs; unless `valid`, maybe interrupted, on another stream, or unfinished. */
function split(d: Dice, block: Buffer, valid: boolean): Buffer[] {
  const id = d.open();
  const cuts = [0, ...d.cuts(1 + d.int(3), block.length)];
  const out = [headers(id, block.subarray(0, cuts[1]), { endStream: true, endHeaders: false })];
  cuts.push(block.length);
  for (let i = 1; i < cuts.length - 1; i++) {
    if (!valid && d.chance(0.1)) out.push(ping(d.bytes(8)));
    const last = i === cuts.length - 2 && (valid || d.chance(0.8));
    const flags = last ? F.END_HEADERS : valid ? 0 : d.int(256) & ~F.END_HEADERS;
    out.push(frame(T.CONTINUATION, flags, valid || d.chance(0.8) ? id : d.any(), block.subarray(cuts[i], cuts[i + 1])));
  }
  return out;
}

/** Steps a well-behaved client might take: requests (a POST's body maybe unfinished), windows, PING, SETTINGS. */
const VALID: ((d: Dice) => Buffer[])[] = [
  (d) => [headers(d.open(), requestBlock(d, 'GET'), { endStream: true, ...(d.chance(0.2) && { padded: d.int(30) }) })],
  (d) => {
    const id = d.open();
    const body = Array.from({ length: 1 + d.int(3) }, () => data(id, d.bytes(d.int(600))));
    const end = d.chance(0.7) ? [data(id, '', { endStream: true })] : [];
    return [headers(id, requestBlock(d, 'POST')), ...body, ...end];
  },
  (d) => split(d, requestBlock(d, 'GET'), true),
  (d) => [data(d.old(), d.bytes(d.int(300)), { endStream: d.chance(0.5) })],
  (d) => [windowUpdate(d.pick([0, d.old()]), 1 + d.int(65_535))],
  (d) => [ping(d.bytes(8)), settings([[d.pick([1, 3, 4, 6]), d.int(65_536)]])],
  (d) => [rst(d.old(), 0x8)],
];

/** Steps no client should take: frames of any type, shape, stream and flags; bad HPACK, windows, settings, padding. */
const HOSTILE: ((d: Dice) => Buffer[])[] = [
  (d) => [frame(d.int(13), d.int(256), d.any(), d.bytes(d.length()))],
  (d) => [
    headers(d.chance(0.85) ? d.open() : d.any(), hpack(d), { endStream: d.chance(0.5), endHeaders: d.chance(0.9) }),
  ],
  (d) => split(d, d.chance(0.5) ? requestBlock(d, 'GET') : hpack(d), false),
  (d) => [windowUpdate(d.pick([0, d.old(), d.any()]), d.pick([0, 1, 0x7fffffff, 0xffffffff, d.int(2 ** 31)]))],
  (d) => {
    const value = (): number => d.pick([0, 1, 16_383, 16_384, 0x7fffffff, 0x80000000, 0xffffffff, d.int(2 ** 32)]);
    const pair = (): [number, number] => [d.chance(0.8) ? 1 + d.int(8) : d.int(65_536), value()];
    if (d.chance(0.2)) return [frame(T.SETTINGS, d.int(2), d.pick([0, d.any()]), d.bytes(d.int(20)))];
    return [settings(Array.from({ length: 1 + d.int(4) }, pair))];
  },
  (d) => [d.chance(0.7) ? rst(d.any(), d.int(16)) : frame(T.RST_STREAM, 0, d.any(), d.bytes(d.int(9)))],
  (d) => [d.chance(0.5) ? ping(d.bytes(8), { ack: true }) : frame(T.PING, d.int(2), d.any(), d.bytes(d.int(17)))],
  (d) => [d.chance(0.6) ? goaway(d.int(2 ** 31), d.int(20)) : frame(T.GOAWAY, 0, d.any(), d.bytes(d.int(12)))],
  (d) => {
    // A padded DATA or HEADERS whose pad length may not fit.
    const body = d.bytes(d.int(40));
    const padLength = d.chance(0.5) ? Math.min(255, body.length + d.int(3)) : d.int(256);
    const payload = d.chance(0.1) ? Buffer.alloc(0) : Buffer.concat([Buffer.from([padLength]), body]);
    const headersFrame = d.chance(0.5);
    const flags = F.PADDED | d.pick([0, F.END_STREAM, F.END_HEADERS, F.END_STREAM | F.END_HEADERS]);
    return [frame(headersFrame ? T.HEADERS : T.DATA, flags, headersFrame ? d.open() : d.old(), payload)];
  },
  (d) => [frame(T.PRIORITY, 0, d.any(), d.bytes(d.chance(0.8) ? 5 : d.int(8)))],
  (d) => {
    // A request whose priority may depend on itself.
    const id = d.open();
    const priority = { dependsOn: d.pick([id, d.any()]), weight: 1 + d.int(256) };
    return [headers(id, requestBlock(d, 'GET'), { endStream: d.chance(0.5), endHeaders: d.chance(0.8), priority })];
  },
  (d) => [data(d.pick([d.old(), d.any()]), d.bytes(d.length()), { endStream: d.chance(0.5) })],
];

/** What connection `index` sends (a function of the seed and the index only): the preface or not, its writes, a log. */
function plan(index: number): { preface: boolean; chunks: Buffer[]; log: string[] } {
  const d = new Dice(mulberry32((SEED ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0));
  const mode = d.next();
  const log: string[] = [];
  let bytes: Buffer;
  if (mode < 0.08) {
    // Garbage alone: without the preface (maybe after a part of it), or after the preface and SETTINGS.
    const head = mode < 0.04 ? PREFACE.subarray(0, d.int(PREFACE.length)) : null;
    bytes = Buffer.concat([head ?? Buffer.alloc(0), d.bytes(1 + d.int(300))]);
    log.push(`${head === null ? '' : `no preface, ${head.length} bytes of it, then `}garbage`);
  } else {
    // Each step hostile with this connection's own odds: some connections go deep, some fail at once.
    const hostility = d.pick([0.03, 0.1, 0.3, 1]);
    const steps = Array.from({ length: 1 + d.int(30) }, () => d.pick(d.chance(hostility) ? HOSTILE : VALID)(d));
    const frames = steps.flat(); // logged as type/flags/stream/length
    for (const f of frames) log.push(`${f[3]}/0x${f[4]!.toString(16)}/${f.readUInt32BE(5)}/${f.readUIntBE(0, 3)}`);
    bytes = Buffer.concat(frames);
  }
  if (d.chance(0.05)) log.push(`cut to ${(bytes = bytes.subarray(0, d.int(bytes.length))).length} bytes`);
  const cuts = d.cuts(d.chance(0.3) ? 1 + d.int(5) : 0, bytes.length);
  if (cuts.length > 0) log.push(`written in parts cut at ${cuts.join(',')}`);
  const chunks = [0, ...cuts].map((at, i) => bytes.subarray(at, [...cuts, bytes.length][i]));
  return { preface: mode >= 0.04, chunks, log };
}

let g: H2TestGateway;
/** What went wrong: broken invariants, and uncaught errors (the gateway runs in this process). */
const problems: string[] = [];
const inFlight = new Set<number>();
const onCrash = (err: Error): void => void problems.push(`uncaught, connections ${[...inFlight]} open: ${err.stack}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  g = await startH2TestGateway();
  process.on('uncaughtException', onCrash);
}, 60_000);

afterAll(async () => {
  process.off('uncaughtException', onCrash);
  await g?.stop();
});

/** The error code of a GOAWAY or RST_STREAM (-1 if it has none), or null for other frames. */
function codeOf(f: RawFrame): number | null {
  if (f.type === T.GOAWAY) return f.payload.length >= 8 ? f.payload.readUInt32BE(4) : -1;
  return f.type === T.RST_STREAM ? (f.payload.length === 4 ? f.payload.readUInt32BE(0) : -1) : null;
}
/** The server sent a GOAWAY with an error code: it must close the connection then. */
const failed = (c: RawH2): boolean => c.frames.some((f) => f.type === T.GOAWAY && codeOf(f) !== 0);

/** Runs connection `index`: sends its plan, waits for the close or QUIET_MS of silence (bounded), checks answers. */
async function hostile(index: number): Promise<void> {
  const p = plan(index);
  const where = (what: string): string => `seed=${SEED} connection=${index}: ${what}; sent ${p.log.join(' ')}`;
  const c = await rawH2(g.port, H2_HOST, g.cert.ca, p.preface ? {} : { preface: false, settings: false });
  inFlight.add(index);
  try {
    // The server's SETTINGS is acknowledged first, so that the ack never lands inside the bytes below.
    if (p.preface) await c.waitFor((f) => f.type === T.SETTINGS && (f.flags & F.ACK) === 0);
    for (const chunk of p.chunks) {
      if (!c.isClosed) c.send(chunk);
      if (p.chunks.length > 1) await sleep(2);
    }
    const start = Date.now();
    for (let seen = -1, since = start; !c.isClosed && Date.now() - start < MAX_WAIT_MS; await sleep(25)) {
      if (c.frames.length !== seen) [seen, since] = [c.frames.length, Date.now()];
      else if (Date.now() - since >= QUIET_MS && !failed(c)) break;
    }
    // Every error code the server sends is one RFC 9113 §7 defines.
    for (const code of c.frames.map(codeOf))
      if (code !== null && (code < 0 || code > 0xd)) problems.push(where(`the server sent error code ${code}`));
    if (failed(c) && !c.isClosed) problems.push(where(`no close within ${MAX_WAIT_MS} ms of the server's GOAWAY`));
  } finally {
    c.destroy();
    inFlight.delete(index);
  }
}

/** The gateway's open client connections, once at most `most` (or after 5 s, whatever it is then). */
async function clientConnections(most: number): Promise<number> {
  let n = Infinity;
  for (let i = 0; i < 100 && n > most; i++) {
    if (i > 0) await sleep(50);
    n = (await scrape(`${g.t.statusUrl}/metrics`)).sum('isogate_client_connections');
  }
  return n;
}

/** The gateway answers HTTP/2 (a fresh session) and HTTP/1.1 over TLS, and holds no connection but the probe's. */
async function expectHealthy(after: number): Promise<void> {
  const where = `seed=${SEED} after ${after} connections`;
  expect(problems, where).toEqual([]);
  const session = await h2Session(g.port, H2_HOST, g.cert.ca);
  try {
    const h2 = await h2Request(session, { ':path': '/spread/ok' });
    expect(h2.status, `${where}: HTTP/2 ${JSON.stringify(h2)}`).toBe(200);
    const h1 = await httpsGet(g.port, H2_HOST, '/spread/ok', g.cert.ca);
    expect(h1.status, `${where}: HTTP/1.1 ${JSON.stringify(h1)}`).toBe(200);
    // Only the probe's HTTP/2 session stays open (the HTTP/1.1 connection closes after its answer).
    expect(await clientConnections(1), `${where}: open client connections, the probe's included`).toBe(1);
  } finally {
    session.close();
  }
}

it(`survives ${CONNECTIONS} hostile HTTP/2 connections (seed ${SEED})`, async () => {
  console.log(`h2 fuzz: seed=${SEED} connections=${CONNECTIONS}`);
  for (let round = 0; round < CONNECTIONS; round += ROUND) {
    // PARALLEL connections at a time; then the checks, with no fuzz connection open.
    const end = Math.min(round + ROUND, CONNECTIONS);
    let next = round;
    const worker = async (): Promise<void> => {
      while (next < end) await hostile(next++);
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    await expectHealthy(end);
  }
  // Every fuzz connection and probe is gone: so are their sessions and admission tickets.
  expect(await clientConnections(0), `seed=${SEED}: open client connections at the end`).toBe(0);
}, 120_000);
