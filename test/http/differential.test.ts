/**
 * Differential test of the gateway's HTTP/1.1 parsers against llhttp (Node's own parser, strict):
 * seeded generated messages (valid ones of every framing, pipelined) and mutations of them (bytes
 * inserted, replaced, removed; lines repeated) go to the request parser and the response parser,
 * fed in random pieces, and to llhttp. The test fails when the gateway completes a message llhttp
 * refuses, or frames one llhttp accepts differently: method, target, status, headers, body bytes,
 * connection fate, and where each message ends (pipelined and kept-alive messages follow it). The
 * gateway may refuse more than llhttp does (it is stricter on purpose: Host, transfer codings, …).
 *
 * Bounded: a fixed number of cases per seed, and a time budget per direction. A failure prints the
 * seed and the case's bytes; `DIFF_SEED=<n>` runs that seed alone.
 */
import { describe, expect, it } from 'vitest';
import { RequestParseError, RequestParser } from '../../src/gateway/http/request-parser.js';
import { ResponseParser } from '../../src/upstream/response-parser.js';
import { UpstreamError } from '../../src/upstream/errors.js';
import { llhttpParse, type Frame, type Parsed } from '../helpers/llhttp.js';

const SEEDS = process.env.DIFF_SEED ? [Number(process.env.DIFF_SEED)] : [1, 2, 3];
/** Cases per seed and direction: half generated, half mutated. */
const CASES = 2_000;
/** Time budget per direction and seed. */
const BUDGET_MS = 8_000;

/** A small seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, list: readonly T[]): T => list[int(r, list.length)]!;
const chance = (r: Rand, p: number) => r() < p;

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
const VALUE_CHARS = 'abcXYZ019 -_.,;:=/"()<>@[]{}?\\\t\x80\xff';

function token(r: Rand, min = 1, max = 8): string {
  let s = '';
  for (let i = min + int(r, max - min + 1); i > 0; i--) s += pick(r, TOKEN_CHARS.split(''));
  return s;
}

function value(r: Rand): string {
  let s = '';
  for (let i = int(r, 12); i > 0; i--) s += pick(r, VALUE_CHARS.split(''));
  return s.replace(/^[ \t]+|[ \t]+$/g, '') || 'v';
}

const ows = (r: Rand) => pick(r, ['', '', ' ', '  ', '\t', ' \t']);

/** A chunked body: random chunks with optional extensions, the last chunk, optional trailers. */
function chunkedBody(r: Rand, data: string): string {
  let out = '';
  let at = 0;
  while (at < data.length) {
    const n = 1 + int(r, Math.min(20, data.length - at));
    const size = n.toString(16);
    out += `${chance(r, 0.2) ? size.toUpperCase().padStart(size.length + int(r, 3), '0') : size}`;
    out += chunkExtensions(r);
    out += `\r\n${data.slice(at, at + n)}\r\n`;
    at += n;
  }
  out += `0${chunkExtensions(r)}\r\n`;
  if (chance(r, 0.3))
    for (let i = 1 + int(r, 2); i > 0; i--) out += `X-T${token(r, 1, 3)}:${ows(r)}${value(r)}${ows(r)}\r\n`;
  return out + '\r\n';
}

function chunkExtensions(r: Rand): string {
  if (!chance(r, 0.25)) return '';
  let out = '';
  for (let i = 1 + int(r, 2); i > 0; i--) {
    out += `;${token(r)}`;
    const v = int(r, 3);
    if (v === 1) out += `=${token(r)}`;
    else if (v === 2) out += `="${pick(r, ['', 'a b', 'q\\"q', 'x;y=z', '\\\\'])}"`;
  }
  return out;
}

function bodyText(r: Rand): string {
  let s = '';
  for (let i = int(r, 40); i > 0; i--) s += pick(r, 'abc\r\n0;:"\x00\xff'.split(''));
  return s;
}

/** One request: line, headers (Host, framing, connection), body. */
function request(r: Rand): string {
  const method = pick(r, [
    'GET',
    'GET',
    'POST',
    'POST',
    'PUT',
    'HEAD',
    'DELETE',
    'OPTIONS',
    'PATCH',
    'PURGE',
    'CONNECT',
    'get',
    'FOO',
  ]);
  const target = pick(r, [
    '/',
    '/a/b?c=d&e',
    '/x%20y',
    '*',
    'http://h.test/p?q',
    'h.test:443',
    '/a#f',
    '/q"<>{}|^`',
    '/caf\xe9',
  ]);
  const version = pick(r, ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'http/1.1']);
  const headers: string[] = [];
  const hosts = version === 'HTTP/1.0' ? int(r, 2) : chance(r, 0.9) ? 1 : int(r, 3);
  for (let i = 0; i < hosts; i++) headers.push(`Host:${ows(r)}h${i}.test${ows(r)}`);
  for (let i = int(r, 4); i > 0; i--) headers.push(`X-${token(r)}:${ows(r)}${value(r)}${ows(r)}`);
  const data = bodyText(r);
  let body = '';
  const framing = int(r, 4);
  if (framing === 1 || (framing === 0 && data.length > 0 && chance(r, 0.5))) {
    headers.push(`${pick(r, ['Content-Length', 'content-length', 'CONTENT-LENGTH'])}:${ows(r)}${data.length}${ows(r)}`);
    body = data;
  } else if (framing === 2) {
    headers.push(
      `Transfer-Encoding:${ows(r)}${pick(r, ['chunked', 'chunked', 'Chunked', 'gzip, chunked', 'chunked, gzip'])}${ows(r)}`,
    );
    body = chunkedBody(r, data);
  }
  if (chance(r, 0.2))
    headers.push(`Connection: ${pick(r, ['close', 'keep-alive', 'Keep-Alive', 'upgrade', 'close, te'])}`);
  if (chance(r, 0.05)) headers.push('Upgrade: websocket');
  if (chance(r, 0.05)) headers.push(`Expect: ${pick(r, ['100-continue', 'other'])}`);
  shuffle(r, headers);
  return `${method} ${target} ${version}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

/** One response (to a HEAD or not), sometimes after interim 1xx ones. */
function response(r: Rand, head: boolean): string {
  let out = '';
  if (chance(r, 0.1))
    out += `HTTP/1.1 ${pick(r, ['100 Continue', '103 Early Hints'])}\r\n${chance(r, 0.5) ? 'Link: </a>\r\n' : ''}\r\n`;
  const status = pick(r, [200, 200, 201, 204, 304, 404, 500, 101, 99, 999]);
  const version = pick(r, ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0']);
  const reason = pick(r, [' OK', ' OK', '', ' ', ' Some Reason', ' r\x80']);
  const headers: string[] = [];
  for (let i = int(r, 4); i > 0; i--) headers.push(`X-${token(r)}:${ows(r)}${value(r)}${ows(r)}`);
  const data = bodyText(r);
  let body = '';
  const framing = int(r, 4);
  if (framing === 1) {
    headers.push(`Content-Length:${ows(r)}${data.length}${ows(r)}`);
    if (chance(r, 0.1)) headers.push(`Content-Length: ${data.length}`);
    body = data;
  } else if (framing === 2) {
    headers.push(`Transfer-Encoding: ${pick(r, ['chunked', 'chunked', 'gzip, chunked', 'chunked, gzip'])}`);
    body = chunkedBody(r, data);
  } else if (framing === 3) {
    body = data; // until the connection closes
  }
  if (chance(r, 0.2)) headers.push(`Connection: ${pick(r, ['close', 'keep-alive'])}`);
  if (chance(r, 0.1)) headers.push(`Keep-Alive: timeout=${int(r, 10)}`);
  shuffle(r, headers);
  const noBody = head || status === 204 || status === 304 || status < 200;
  return `${out}${version} ${status}${reason}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${noBody && framing !== 3 ? '' : body}`;
}

function shuffle<T>(r: Rand, list: T[]): void {
  for (let i = list.length - 1; i > 0; i--) {
    const j = int(r, i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
}

const INSERTS = [
  '\r',
  '\n',
  '\r\n',
  ' ',
  '\t',
  ':',
  ';',
  '"',
  '\\',
  '\x00',
  '\x7f',
  '\x80',
  '0',
  'a',
  'F',
  '=',
  ',',
  '\r\n\r\n',
  'Content-Length: 3\r\n',
  'Transfer-Encoding: chunked\r\n',
  '0\r\n\r\n',
];

/** `text` with one to three random edits. */
function mutate(r: Rand, text: string): string {
  let s = text;
  for (let n = 1 + int(r, 3); n > 0; n--) {
    const at = int(r, s.length + 1);
    switch (int(r, 5)) {
      case 0:
        s = s.slice(0, at) + pick(r, INSERTS) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + pick(r, INSERTS) + s.slice(at + 1);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + int(r, 3));
        break;
      case 3: {
        // Repeat the line around `at`.
        const start = s.lastIndexOf('\r\n', at) + 2;
        const end = s.indexOf('\r\n', at);
        if (end > start) s = s.slice(0, end + 2) + s.slice(start, end + 2) + s.slice(end + 2);
        break;
      }
      default: {
        const c = s.charCodeAt(at);
        if (c >= 97 && c <= 122) s = s.slice(0, at) + s[at]!.toUpperCase() + s.slice(at + 1);
        else if (c >= 65 && c <= 90) s = s.slice(0, at) + s[at]!.toLowerCase() + s.slice(at + 1);
      }
    }
  }
  return s;
}

/** Up to three random cut points, ascending. */
function cuts(r: Rand, length: number): number[] {
  return Array.from({ length: int(r, 4) }, () => int(r, length + 1)).sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// The gateway's parsers, read as frames
// ---------------------------------------------------------------------------------------------

/** The messages a parser's sink reports, as frames. */
class Frames {
  readonly list: Frame[] = [];
  private body: Buffer[] = [];

  head(frame: Omit<Frame, 'body' | 'upgrade'>): void {
    this.list.push({ ...frame, body: Buffer.alloc(0), upgrade: false });
    this.body = [];
  }

  readonly onBody = (chunk: Buffer): void => {
    this.body.push(Buffer.from(chunk));
  };

  readonly onEnd = (): void => {
    const f = this.list.at(-1)!;
    f.body = Buffer.concat(this.body);
    f.complete = true;
  };
}

/** Feeds `input` in pieces cut at `at`; `step` parses from the start of what is left and returns the bytes it used, or -1 to stop. */
function feedPieces(input: Buffer, at: number[], step: (rest: Buffer) => number): void {
  let from = 0;
  for (const to of [...at, input.length]) {
    let rest = input.subarray(from, to);
    from = to;
    while (rest.length > 0) {
      const used = step(rest);
      if (used < 0) return;
      rest = rest.subarray(used);
    }
  }
}

/** Feeds `input` to the request parser in the given pieces; messages until a parse error, or one that closes the connection. */
function gatewayRequests(input: Buffer, at: number[]): Parsed {
  const frames = new Frames();
  const parser = new RequestParser({
    onHead: (h) =>
      frames.head({ method: h.method, url: h.url, headers: h.rawHeaders, keepAlive: h.keepAlive, complete: false }),
    onBody: frames.onBody,
    onEnd: frames.onEnd,
  });
  try {
    feedPieces(input, at, (rest) => {
      const used = parser.execute(rest);
      if (parser.complete) {
        if (!frames.list.at(-1)!.keepAlive) return -1;
        parser.next();
      }
      return used;
    });
  } catch (err) {
    if (err instanceof RequestParseError) return { frames: frames.list, error: err.code };
    throw err;
  }
  return { frames: frames.list, error: null };
}

/** Feeds `input` to the response parser as the answers to `heads` (true: a HEAD), then ends it as a closed connection. */
function gatewayResponses(input: Buffer, heads: readonly boolean[], at: number[]): Parsed {
  const frames = new Frames();
  let index = 0;
  let ended = false;
  const parser = new ResponseParser({
    onHead: (h) =>
      frames.head({
        status: h.status,
        headers: h.headers,
        keepAlive: h.keepAlive,
        complete: h.status < 200,
        head: h.status >= 200 && heads[index] === true,
      }),
    onBody: frames.onBody,
    onEnd: () => {
      frames.onEnd();
      ended = true;
    },
  });
  parser.expect(heads[0] === true);
  try {
    let closed = false;
    feedPieces(input, at, (rest) => {
      const used = parser.execute(rest);
      if (ended) {
        // The connection is reused only when the response said so (connection.ts does the same).
        if (!frames.list.at(-1)!.keepAlive) {
          closed = true;
          return -1;
        }
        ended = false;
        parser.expect(heads[++index] === true);
      }
      return used;
    });
    if (!closed) parser.finishAtEof();
  } catch (err) {
    if (err instanceof UpstreamError) return { frames: frames.list, error: err.code };
    throw err;
  }
  return { frames: frames.list, error: null };
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/** Why the gateway's reading of `input` is not allowed next to llhttp's, or null. */
function disagreement(ours: Parsed, theirs: Parsed): string | null {
  for (let i = 0; i < ours.frames.length; i++) {
    const a = ours.frames[i]!;
    if (!a.complete) break;
    const b = theirs.frames[i];
    if (b === undefined || !b.complete) {
      if (b?.upgrade) return null; // llhttp hands the rest to another protocol; nothing more to compare
      return `the gateway completed message ${i + 1}, llhttp did not (${theirs.error ?? 'needs more bytes'})`;
    }
    for (const key of ['method', 'url', 'status'] as const) {
      if (a[key] !== b[key])
        return `message ${i + 1}: ${key} ${JSON.stringify(a[key])} vs llhttp ${JSON.stringify(b[key])}`;
    }
    if (JSON.stringify(a.headers) !== JSON.stringify(b.headers))
      return `message ${i + 1}: headers ${JSON.stringify(a.headers)} vs llhttp ${JSON.stringify(b.headers)}`;
    // After an upgrade (CONNECT, Upgrade) llhttp reads no body: the connection is another protocol's.
    // The gateway does not upgrade (it drops Upgrade as hop-by-hop); nothing more to compare.
    if (b.upgrade) return null;
    // Keeping a connection that llhttp would not is a desync; closing one it would keep is only
    // stricter (`close` wins over `keep-alive` on HTTP/1.0 here, as RFC 9112 §9.6 says). llhttp
    // computes its flag before it is told that a response answers a HEAD.
    if (a.keepAlive && !b.keepAlive && !a.head)
      return `message ${i + 1}: keepAlive ${a.keepAlive} vs llhttp ${b.keepAlive}`;
    if (!a.body.equals(b.body))
      return `message ${i + 1}: body ${JSON.stringify(a.body.toString('latin1'))} vs llhttp ${JSON.stringify(b.body.toString('latin1'))}`;
  }
  return null;
}

interface Tally {
  cases: number;
  bothAccepted: number;
  gatewayStricter: number;
}

function run(direction: 'request' | 'response', seed: number): { tally: Tally; failures: string[] } {
  const r = prng(seed * 7919 + (direction === 'request' ? 1 : 2));
  const tally: Tally = { cases: 0, bothAccepted: 0, gatewayStricter: 0 };
  const failures: string[] = [];
  const started = performance.now();
  for (let i = 0; i < CASES && performance.now() - started < BUDGET_MS && failures.length < 5; i++) {
    const heads: boolean[] = [];
    let text = '';
    for (let m = 1 + int(r, 3); m > 0; m--) {
      if (direction === 'request') text += request(r);
      else {
        const head = chance(r, 0.15);
        heads.push(head);
        text += response(r, head);
      }
    }
    if (i % 2 === 1) text = mutate(r, text);
    const input = Buffer.from(text, 'latin1');
    const theirs = llhttpParse(direction, input, heads);
    const ours =
      direction === 'request'
        ? gatewayRequests(input, cuts(r, input.length))
        : gatewayResponses(input, heads, cuts(r, input.length));
    tally.cases++;
    const problem = disagreement(ours, theirs);
    if (problem !== null) failures.push(`seed ${seed} case ${i}: ${problem}\n  bytes: ${JSON.stringify(text)}`);
    else if (ours.frames.some((f) => f.complete)) tally.bothAccepted++;
    if (ours.error !== null && theirs.error === null) tally.gatewayStricter++;
  }
  return { tally, failures };
}

describe('the gateway parsers against llhttp (strict), on seeded generated and mutated messages', () => {
  for (const direction of ['request', 'response'] as const) {
    it.each(SEEDS)(
      `${direction}s, seed %i: nothing llhttp refuses is accepted, nothing it accepts is framed differently`,
      (seed) => {
        const { tally, failures } = run(direction, seed);
        expect(failures).toEqual([]);
        // The generator must produce messages both accept, or the comparison proves little.
        expect(tally.bothAccepted).toBeGreaterThan(tally.cases / 10);
        console.log(
          `${direction}s seed ${seed}: ${tally.cases} cases, ${tally.bothAccepted} with messages both accepted, ${tally.gatewayStricter} refused by the gateway alone`,
        );
      },
      60_000,
    );
  }
});
