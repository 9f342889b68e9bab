import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DnsError } from '../../src/upstream/dns-errors.js';
import { caresBackend, getaddrinfoBackend, type DnsAddress, type DnsBackend } from '../../src/upstream/dns-query.js';
import { NodeResolver, type ResolverOptions } from '../../src/upstream/resolver.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

// The node-name resolver against a real DNS server on 127.0.0.1 (c-ares), and the system's
// getaddrinfo for `localhost`. The clock of freshness is the test's; lookup bounds are real timers.

let dns: TestDnsServer;
let tcp: Server;
const resolvers: NodeResolver[] = [];
let clock = 0;

beforeAll(async () => {
  dns = await startDnsServer();
  tcp = createServer((s) => s.end('hi')).listen(0, '127.0.0.1');
  await new Promise((r) => tcp.once('listening', r));
});
afterAll(async () => {
  for (const r of resolvers) r.close();
  tcp.close();
  await dns.close();
});
beforeEach(() => {
  dns.mode = 'answer';
  clock = 0;
});

let seq = 0;
/** A name of its own for one test (queries are counted per name). */
const unique = (label: string) => `${label}-${++seq}.test`;

function resolverOf(options: Partial<ResolverOptions> = {}, backend?: DnsBackend): NodeResolver {
  const timeoutMs = options.timeoutMs ?? 300;
  const r = new NodeResolver(backend ?? caresBackend([dns.address], timeoutMs), {
    validMs: 30_000,
    staleMs: 300_000,
    timeoutMs,
    now: () => clock,
    ...options,
  });
  resolvers.push(r);
  return r;
}

/** One lookup as a promise: the addresses, or the DnsError. */
function resolve(r: NodeResolver, name: string): Promise<readonly DnsAddress[] | DnsError> {
  return new Promise((done) => r.resolve(name, (err, addresses) => done(err ?? addresses!)));
}

const first = (answer: readonly DnsAddress[] | DnsError) =>
  answer instanceof DnsError ? answer.code : answer[0]!.address;

/** Waits until `ok()` holds (bounded). */
async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
}

describe('NodeResolver (c-ares against a real DNS server)', () => {
  it('concurrent lookups of one name share one query; the answer is cached while fresh', async () => {
    const name = unique('svc');
    dns.set(name, ['127.0.0.1']);
    const r = resolverOf();
    const answers = await Promise.all(Array.from({ length: 20 }, () => resolve(r, name)));
    expect(answers.map(first)).toEqual(Array(20).fill('127.0.0.1'));
    expect(dns.queries(name, 'A')).toBe(1);
    clock += 29_000;
    expect(first(await resolve(r, name))).toBe('127.0.0.1');
    expect(dns.queries(name, 'A')).toBe(1);
    expect(r.stats().lookups).toMatchObject({ resolved: 20, fresh: 1, failed: 0 });
  });

  it("honours the record's TTL within [1 s, valid-ms], refreshing in the background past it", async () => {
    const short = unique('ttl');
    dns.set(short, ['127.0.0.1'], 2);
    const r = resolverOf({ validMs: 10_000 });
    await resolve(r, short);
    clock += 1_500;
    await resolve(r, short);
    expect(dns.queries(short, 'A')).toBe(1); // fresh for its TTL, 2 s
    clock += 1_000;
    dns.set(short, ['127.0.0.2'], 2);
    // Past it: the last answer serves at once while the refresh runs, then the new one.
    expect(first(await resolve(r, short))).toBe('127.0.0.1');
    await until(() => dns.queries(short, 'A') === 2);
    await until(() => r.inFlight.running === 0);
    expect(first(await resolve(r, short))).toBe('127.0.0.2');
    expect(r.stats().lookups.refreshing).toBe(1);

    const long = unique('ttl-long');
    dns.set(long, ['127.0.0.1'], 3600);
    await resolve(r, long);
    clock += 10_001; // valid-ms caps a long TTL
    await resolve(r, long);
    await until(() => dns.queries(long, 'A') === 2);

    const zero = unique('ttl-zero');
    dns.set(zero, ['127.0.0.1'], 0);
    await resolve(r, zero);
    clock += 900; // a TTL of 0 counts as 1 s
    await resolve(r, zero);
    expect(dns.queries(zero, 'A')).toBe(1);
  });

  it('serves the last addresses while refreshes fail, up to the stale window, refreshing at most every few seconds', async () => {
    const name = unique('stale');
    dns.set(name, ['127.0.0.1'], 1);
    const r = resolverOf({ validMs: 1_000, staleMs: 60_000, timeoutMs: 200 });
    await resolve(r, name);
    dns.mode = 'silent';
    clock += 1_001;
    expect(first(await resolve(r, name))).toBe('127.0.0.1'); // refreshing
    await until(() => r.stats().queries.timeout === 1);
    const queries = dns.queries(name, 'A');
    for (let i = 0; i < 10; i++) expect(first(await resolve(r, name))).toBe('127.0.0.1');
    expect(r.stats().lookups.stale).toBe(10);
    expect(dns.queries(name, 'A')).toBe(queries); // not once per lookup
    clock += 1_000; // the retry pace (valid-ms here)
    await resolve(r, name);
    await until(() => dns.queries(name, 'A') > queries);
    await until(() => r.inFlight.running === 0);
    clock += 60_000; // past the stale window: nothing left to serve
    expect(first(await resolve(r, name))).toBe('DNS_TIMEOUT');
    expect(r.stats().lookups.failed).toBe(1);
    dns.mode = 'answer';
    // Within the retry pace the failure is answered again without a query (a negative cache)…
    const asked = dns.queries(name, 'A');
    expect(first(await resolve(r, name))).toBe('DNS_TIMEOUT');
    expect(dns.queries(name, 'A')).toBe(asked);
    // …then the name is asked again.
    clock += 1_000;
    expect(first(await resolve(r, name))).toBe('127.0.0.1');
  });

  it('answers a name that just failed with that failure for the retry pace, one query for many connections in a row', async () => {
    const r = resolverOf({ validMs: 30_000, timeoutMs: 200 });
    const name = unique('gone');
    for (let i = 0; i < 20; i++) expect(first(await resolve(r, name))).toBe('DNS_NOT_FOUND');
    expect(dns.queries(name, 'A')).toBe(1);
    expect(r.stats().lookups.failed).toBe(20);
    dns.set(name, ['127.0.0.1']);
    clock += 4_999;
    expect(first(await resolve(r, name))).toBe('DNS_NOT_FOUND');
    clock += 1; // min(valid-ms, 5 s) after the failure
    expect(first(await resolve(r, name))).toBe('127.0.0.1');
    expect(dns.queries(name, 'A')).toBe(2);
  });

  it('names the failure: unknown name, SERVFAIL, no answer in time', async () => {
    const r = resolverOf({ timeoutMs: 200 });
    expect(first(await resolve(r, unique('unknown')))).toBe('DNS_NOT_FOUND');
    dns.mode = 'servfail';
    const broken = unique('servfail');
    dns.set(broken, ['127.0.0.1']);
    expect(first(await resolve(r, broken))).toBe('DNS_FAILED');
    dns.mode = 'silent';
    expect(first(await resolve(r, unique('silent')))).toBe('DNS_TIMEOUT');
    expect(r.stats().queries).toMatchObject({ not_found: 1, error: 1, timeout: 1, ok: 0 });
  });

  it('bounds the queries in flight and the names waiting; a full queue fails at once with DNS_QUEUE_FULL', async () => {
    dns.mode = 'silent';
    const r = resolverOf({ timeoutMs: 300, maxQueued: 1 }, { ...caresBackend([dns.address], 300), maxInFlight: 1 });
    const [a, b, c] = [unique('q'), unique('q'), unique('q')];
    const first3 = [resolve(r, a), resolve(r, b), resolve(r, c)];
    expect(r.inFlight).toEqual({ running: 1, queued: 1 });
    const answers = await Promise.all(first3);
    expect(answers.map(first)).toEqual(['DNS_TIMEOUT', 'DNS_TIMEOUT', 'DNS_QUEUE_FULL']);
    expect(dns.queries(c)).toBe(0);
  });

  it('keeps at most max-names names, and drops names past their stale window', async () => {
    const r = resolverOf({ maxNames: 2, validMs: 1_000, staleMs: 1_000 });
    const names = [unique('n'), unique('n'), unique('n')];
    for (const n of names) dns.set(n, ['127.0.0.1']);
    for (const n of names) await resolve(r, n);
    expect(r.stats().names).toBe(2);
    await resolve(r, names[0]!); // dropped: asked again
    expect(dns.queries(names[0], 'A')).toBe(2);
    clock += 2_001;
    r.sweep();
    expect(r.stats().names).toBe(0);
  });

  it('rotates the addresses of a name per lookup', async () => {
    const name = unique('rr');
    dns.set(name, ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
    const r = resolverOf();
    const firsts = [];
    for (let i = 0; i < 6; i++) firsts.push(first(await resolve(r, name)));
    expect(firsts).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.1', '127.0.0.2', '127.0.0.3']);
  });

  it("is net.connect's lookup: a connection to the name reaches the address", async () => {
    const name = unique('net');
    dns.set(name, ['127.0.0.1']);
    const r = resolverOf();
    const port = (tcp.address() as AddressInfo).port;
    const read = (host: string) =>
      new Promise<string>((done, fail) => {
        const s = connect({ host, port, lookup: r.lookup });
        let got = '';
        s.on('data', (c: Buffer) => (got += c.toString()));
        s.on('end', () => done(got));
        s.on('error', fail);
      });
    expect(await read(name)).toBe('hi');
    const err = await read(unique('missing')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsError);
    expect((err as DnsError).code).toBe('DNS_NOT_FOUND');
  });
});

describe('NodeResolver (getaddrinfo)', () => {
  it('resolves localhost from /etc/hosts and connects through it', async () => {
    const r = resolverOf({}, getaddrinfoBackend(1_000));
    const answer = await resolve(r, 'localhost');
    expect(answer).not.toBeInstanceOf(DnsError);
    expect((answer as DnsAddress[]).map((a) => a.address)).toContain('127.0.0.1');
    const port = (tcp.address() as AddressInfo).port;
    const got = await new Promise<string>((done, fail) => {
      const s = connect({ host: 'localhost', port, lookup: r.lookup });
      let text = '';
      s.on('data', (c: Buffer) => (text += c.toString()));
      s.on('end', () => done(text));
      s.on('error', fail);
    });
    expect(got).toBe('hi');
    expect(r.stats().queries.ok).toBe(1);
  });
});
