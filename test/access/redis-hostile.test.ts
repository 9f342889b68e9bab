import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { freePort } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Cluster rate limits against a Redis that misbehaves: a fake Redis this file runs (it speaks RESP
// itself, so it can stall, answer errors such as -READONLY / -OOM / -LOADING, or answer garbage), and
// a throwaway `redis-server` on a free port (never the shared one on 6379) that the file may SCRIPT
// FLUSH and restart. Every loop and wait is bounded; assertions are on causes (status codes, which
// limiter decided, counts of connections and commands, what /status says), not on speed.
// A comment starting `BUG:` marks a test that fails because of the bug it describes.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let ups: TestUpstream[];

beforeAll(async () => {
  ups = await startUpstreams(['u']);
});

afterAll(async () => {
  for (const u of ups ?? []) await u.close();
});

// ---------------------------------------------------------------------------------------------
// A fake Redis: parses RESP commands, answers with what `reply` returns (null: never answers).

interface FakeRedis {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Command names received, upper-cased (bounded). */
  commands: string[];
  reply: (args: string[]) => string | null;
  close(): Promise<void>;
}

function parseCommands(buf: Buffer): { cmds: string[][]; rest: Buffer } {
  const cmds: string[][] = [];
  let i = 0;
  outer: while (i < buf.length) {
    const nl = buf.indexOf('\r\n', i);
    if (nl < 0) break;
    if (buf[i] !== 0x2a) {
      cmds.push(buf.toString('latin1', i, nl).split(' '));
      i = nl + 2;
      continue;
    }
    const n = Number(buf.toString('latin1', i + 1, nl));
    let j = nl + 2;
    const args: string[] = [];
    for (let k = 0; k < n; k++) {
      const nl2 = buf.indexOf('\r\n', j);
      if (nl2 < 0) break outer;
      const len = Number(buf.toString('latin1', j + 1, nl2));
      const start = nl2 + 2;
      if (start + len + 2 > buf.length) break outer;
      args.push(buf.toString('latin1', start, start + len));
      j = start + len + 2;
    }
    cmds.push(args);
    i = j;
  }
  return { cmds, rest: buf.subarray(i) };
}

async function startFakeRedis(reply: FakeRedis['reply']): Promise<FakeRedis> {
  const sockets = new Set<net.Socket>();
  const fake: FakeRedis = { port: 0, connections: 0, commands: [], reply, close: async () => undefined };
  const server = net.createServer((socket) => {
    fake.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const { cmds, rest } = parseCommands(pending);
      pending = Buffer.from(rest);
      for (const args of cmds) {
        if (fake.commands.length < 100_000) fake.commands.push((args[0] ?? '').toUpperCase());
        const answer = fake.reply(args);
        if (answer !== null && !socket.destroyed) socket.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.port = (server.address() as AddressInfo).port;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return fake;
}

/** A fake Redis that answers PING and the connection handshake, and the take script with `script`. */
function redisLike(script: (args: string[]) => string | null): FakeRedis['reply'] {
  return (args) => {
    const name = (args[0] ?? '').toUpperCase();
    if (name === 'EVAL' || name === 'EVALSHA') return script(args);
    if (name === 'PING') return '+PONG\r\n';
    // A RESP2 server: ioredis then falls back from HELLO 3 to plain commands.
    if (name === 'HELLO') return '-NOPROTO unsupported protocol version\r\n';
    return '+OK\r\n';
  };
}

const scriptCalls = (f: FakeRedis) => f.commands.filter((c) => c === 'EVAL' || c === 'EVALSHA').length;

// ---------------------------------------------------------------------------------------------
// A gateway (in this process) whose cluster limits use the given Redis port.

interface Gw {
  g: TestGateway;
  prefix: string;
  status(): Promise<{
    degraded: boolean;
    redis: { connected: boolean; lastError: string | null; downSince: string | null };
  }>;
  /** One request; returns status, gateway error code and headers. */
  hit(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; code: string | null; headers: Headers }>;
}

async function gatewayOn(port: number, timeoutMs = 200): Promise<Gw> {
  const prefix = `isogate-redis-hostile-${randomBytes(6).toString('hex')}:`;
  const g = await startTestGateway([
    '--redis',
    `redis://127.0.0.1:${port}`,
    '--redis-prefix',
    prefix,
    '--redis-timeout-ms',
    String(timeoutMs),
  ]);
  return {
    g,
    prefix,
    status: async () => (await (await fetch(`${g.statusUrl}/status`)).json()) as any,
    hit: async (path, headers) => {
      const res = await g.get(path, { headers });
      await res.arrayBuffer();
      return { status: res.status, code: res.headers.get('x-isogate-error'), headers: res.headers };
    },
  };
}

async function limitedApi(gw: Gw, name: string, limits: Record<string, unknown>[]): Promise<string> {
  const id = await createApi(gw.g, { name, path: `/${name}/*`, algorithm: 'round_robin', access: { limits } });
  await addNode(gw.g, id, ups[0]!);
  return id;
}

async function waitStatus(gw: Gw, ok: (s: Awaited<ReturnType<Gw['status']>>) => boolean, what: string, tries = 100) {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    last = await gw.status();
    if (ok(last as any)) return last as Awaited<ReturnType<Gw['status']>>;
    await sleep(50);
  }
  throw new Error(`not reached: ${what}; last /status: ${JSON.stringify(last)}`);
}

/** Sends requests `concurrency` at a time for `ms` (at most `max` requests); returns the status codes. */
async function loadFor(gw: Gw, path: string, ms: number, concurrency: number, max: number): Promise<number[]> {
  const codes: number[] = [];
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until && codes.length < max) codes.push((await gw.hit(path)).status);
    }),
  );
  return codes;
}

// ---------------------------------------------------------------------------------------------

describe('a Redis that answers the take script with errors', () => {
  // Fixed: the probe is a write (then the take script itself, once it failed with an error reply), so READONLY/OOM keep the link down with lastError.
  it('READONLY: keeps reporting Redis as not usable while the take script fails, and falls back locally', async () => {
    const fake = await startFakeRedis(redisLike(() => "-READONLY You can't write against a read only replica.\r\n"));
    const gw = await gatewayOn(fake.port);
    try {
      await limitedApi(gw, 'ro', [{ by: 'api', rate: 1000, per: 'second', policy: 'cluster' }]);
      await waitStatus(gw, (s) => s.redis.connected, 'Redis first seen up');
      // Every request passes on the fallback (its bucket of 1000 never empties here).
      for (let i = 0; i < 5; i++) expect((await gw.hit('/ro/x')).status).toBe(200);
      expect(scriptCalls(fake)).toBeGreaterThan(0);
      // Idle for three probe periods: nothing about Redis changed, the script still cannot run.
      await sleep(1_600);
      const s = await gw.status();
      expect(s.redis.connected).toBe(false);
      expect(s.redis.lastError ?? '').toMatch(/READONLY/);
      expect(s.degraded).toBe(true);
      expect((await gw.hit('/ro/x')).status).toBe(200);
    } finally {
      await gw.g.stop();
      await fake.close();
    }
  }, 30_000);

  // Fixed: an error reply marks Redis down but keeps the connection, and the backoff counts attempts until a probe succeeds.
  it('OOM under load: every request passes on the fallback, without reconnecting in a loop', async () => {
    const fake = await startFakeRedis(redisLike(() => "-OOM command not allowed when used memory > 'maxmemory'.\r\n"));
    const gw = await gatewayOn(fake.port);
    try {
      await limitedApi(gw, 'oom', [{ by: 'api', rate: 100_000, per: 'second', policy: 'cluster' }]);
      await waitStatus(gw, (s) => s.redis.connected, 'Redis first seen up');
      const before = fake.connections;
      const codes = await loadFor(gw, '/oom/x', 3_000, 4, 20_000);
      expect(codes.length).toBeGreaterThan(0);
      expect(codes.filter((c) => c !== 200)).toEqual([]);
      expect(scriptCalls(fake)).toBeGreaterThan(0);
      // With a backoff doubling from 50–100 ms to 2 s, 3 s allow about 6 attempts.
      expect(fake.connections - before).toBeLessThanOrEqual(10);
    } finally {
      await gw.g.stop();
      await fake.close();
    }
  }, 30_000);

  // Fixed: a failed probe on an error reply keeps the connection; reconnects back off on the link's own attempt count.
  it('LOADING: reports it and backs off instead of reconnecting ~10 times a second', async () => {
    const fake = await startFakeRedis((args) => {
      const name = (args[0] ?? '').toUpperCase();
      // The connection handshake is allowed while loading (HELLO answered as a RESP2-only server would).
      if (name === 'CLIENT') return '+OK\r\n';
      if (name === 'HELLO') return '-NOPROTO unsupported protocol version\r\n';
      return '-LOADING Redis is loading the dataset in memory\r\n';
    });
    const gw = await gatewayOn(fake.port);
    try {
      await limitedApi(gw, 'loading', [{ by: 'api', rate: 1000, per: 'second', policy: 'cluster' }]);
      const s = await waitStatus(gw, (x) => /LOADING/.test(x.redis.lastError ?? ''), 'LOADING reported');
      expect(s.redis.connected).toBe(false);
      expect(s.degraded).toBe(true);
      expect((await gw.hit('/loading/x')).status).toBe(200);
      const before = fake.connections;
      await sleep(4_000);
      // 100, 200, 400, 800, 1600 ms …: at most ~6 attempts in 4 s.
      expect(fake.connections - before).toBeLessThanOrEqual(10);
    } finally {
      await gw.g.stop();
      await fake.close();
    }
  }, 30_000);
});

describe('a Redis that answers garbage', () => {
  // Fixed: take validates the reply (3 finite numbers, 0 ≤ granted ≤ want, waitMs ≥ 0); anything else is a failure with lastError.
  it('an array of non-numbers: falls back and reports it, never a 429 with NaN headers', async () => {
    const fake = await startFakeRedis(redisLike(() => '*3\r\n$3\r\nabc\r\n$3\r\nxyz\r\n$3\r\nqqq\r\n'));
    const gw = await gatewayOn(fake.port);
    try {
      await limitedApi(gw, 'junk', [{ by: 'api', rate: 1000, per: 'second', policy: 'cluster' }]);
      await waitStatus(gw, (s) => s.redis.connected, 'Redis first seen up');
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await gw.hit('/junk/x'));
      for (const a of answers) {
        expect(a.headers.get('ratelimit-remaining')).not.toBe('NaN');
        expect(a.headers.get('ratelimit-reset')).not.toBe('NaN');
      }
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      const s = await gw.status();
      expect(s.redis.connected).toBe(false);
      expect(s.redis.lastError).not.toBeNull();
    } finally {
      await gw.g.stop();
      await fake.close();
    }
  }, 30_000);

  it('an integer, a nil, and bytes that are not RESP: falls back, reports it, the process lives', async () => {
    let mode: 'int' | 'nil' | 'http' = 'int';
    const fake = await startFakeRedis(
      redisLike(() => (mode === 'int' ? ':1\r\n' : mode === 'nil' ? '*-1\r\n' : 'HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    const gw = await gatewayOn(fake.port);
    try {
      await limitedApi(gw, 'odd', [{ by: 'header', header: 'x-k', rate: 1000, per: 'second', policy: 'cluster' }]);
      for (const m of ['int', 'nil', 'http'] as const) {
        mode = m;
        await waitStatus(gw, (s) => s.redis.connected, `Redis up before ${m}`);
        const calls = scriptCalls(fake);
        // A fresh key each time, so the request takes from Redis rather than from a reservation.
        const a = await gw.hit('/odd/x', { 'x-k': `k-${m}` });
        expect(a.status).toBe(200);
        expect(scriptCalls(fake)).toBeGreaterThan(calls);
        const s = await waitStatus(gw, (x) => !x.redis.connected, `${m} reported`);
        expect(s.redis.lastError).not.toBeNull();
        expect(s.degraded).toBe(true);
      }
    } finally {
      await gw.g.stop();
      await fake.close();
    }
  }, 30_000);
});

describe('a Redis that accepts connections and never answers', () => {
  // Passing: nothing is queued towards a Redis that never answered (offline queue off, the link is
  // only marked up by a PING that came back), requests never wait for it, and /status says why. Here
  // the handshake's HELLO times out, which ioredis treats as fatal, so its backoff does grow.
  it('serves on the fallback without sending a take, and reports the timeouts', async () => {
    const fake = await startFakeRedis(() => null);
    const gw = await gatewayOn(fake.port, 100);
    try {
      await limitedApi(gw, 'stall', [{ by: 'header', header: 'x-k', rate: 1000, per: 'second', policy: 'cluster' }]);
      const s = await waitStatus(gw, (x) => /timed? ?out/i.test(x.redis.lastError ?? ''), 'a timeout reported');
      expect(s.redis.connected).toBe(false);
      expect(s.degraded).toBe(true);
      const codes = await Promise.all(
        Array.from({ length: 200 }, (_, i) => gw.hit('/stall/x', { 'x-k': `k${i}` }).then((a) => a.status)),
      );
      expect(codes.filter((c) => c !== 200)).toEqual([]);
      expect(scriptCalls(fake)).toBe(0);
      // The only commands sent are per-connection ones (handshake, PING): no backlog grows with traffic.
      expect(fake.commands.length).toBeLessThanOrEqual(fake.connections * 6);
    } finally {
      await gw.g.stop();
      await fake.close();
    }
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// A real, throwaway redis-server on a free port (never the shared one).

interface OwnRedis {
  port: number;
  child: ChildProcess | null;
  start(): Promise<void>;
  kill(): Promise<void>;
}

async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const r: OwnRedis = {
    port,
    child: null,
    async start() {
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        { stdio: 'ignore' },
      );
      r.child = child;
      const probe = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      try {
        for (let i = 0; i < 100; i++) {
          try {
            if (probe.status !== 'ready') await probe.connect();
            if ((await probe.ping()) === 'PONG') return;
          } catch {
            probe.disconnect();
          }
          await sleep(50);
        }
        throw new Error('redis-server did not start');
      } finally {
        probe.disconnect();
      }
    },
    async kill() {
      const child = r.child;
      r.child = null;
      if (child === null || child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await Promise.race([gone, sleep(5_000)]);
    },
  };
  await r.start();
  return r;
}

/** A TCP forwarder to 127.0.0.1:`port` that delays every chunk both ways by `delayMs` (a far or busy Redis). */
async function startDelayProxy(port: number, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk: Buffer) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
    forward(down, up);
    forward(up, down);
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('on a real (throwaway) Redis', () => {
  let own: OwnRedis;
  let gw: Gw;
  let redis: Redis;

  beforeAll(async () => {
    own = await ownRedis();
    gw = await gatewayOn(own.port, 250);
    redis = new Redis({ port: own.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined); // refused while the test restarts its Redis
    await waitStatus(gw, (s) => s.redis.connected, 'Redis connected');
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await gw?.g.stop();
    await own?.kill();
  });

  /** Whether the shared bucket of `key` exists in Redis (the cluster decided, not the local fallback); its key is `rl:<api>:<index>:<settings digest>:<key>`. */
  const inRedis = async (apiId: string, key: string) => {
    const limit = `${gw.prefix}rl:${apiId}:0:`;
    return (await redis.keys(`${limit}*`)).some(
      (k) => /^[\w-]{8}:/.test(k.slice(limit.length)) && k.slice(limit.length + 9) === key,
    );
  };

  it('NOSCRIPT after SCRIPT FLUSH, then a Redis restart: the cluster bucket decides again by itself', async () => {
    const id = await limitedApi(gw, 'noscript', [
      { by: 'header', header: 'x-k', rate: 1, per: 'hour', burst: 2, policy: 'cluster' },
    ]);
    const three = async (key: string) => {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) codes.push((await gw.hit('/noscript/x', { 'x-k': key })).status);
      return codes;
    };
    expect(await three('before')).toEqual([200, 200, 429]);
    expect(await inRedis(id, 'before')).toBe(true);

    await redis.script('FLUSH');
    expect(await three('flushed')).toEqual([200, 200, 429]);
    expect(await inRedis(id, 'flushed')).toBe(true);
    // The gateway did meet NOSCRIPT (its connection had the script loaded) and recovered without a fallback.
    expect(await redis.info('errorstats')).toMatch(/errorstat_NOSCRIPT:count=[1-9]/);
    expect((await gw.status()).redis.connected).toBe(true);

    // A crash and restart: the scripts (and the buckets: no persistence here) are gone.
    await own.kill();
    await own.start();
    await waitStatus(gw, (s) => s.redis.connected, 'Redis back after the restart');
    // The first take after the restart may still find the old socket: wait (bounded) until a fresh key is shared.
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      await gw.hit('/noscript/x', { 'x-k': `probe-${i}` });
      ok = await inRedis(id, `probe-${i}`);
      if (!ok) await sleep(100);
    }
    expect(ok).toBe(true);
    expect(await three('restarted')).toEqual([200, 200, 429]);
    expect(await inRedis(id, 'restarted')).toBe(true);
  }, 30_000);

  it('keys built from client-chosen values: every key has a TTL, a bounded length, and its own bucket', async () => {
    const id = await limitedApi(gw, 'keys', [
      { by: 'header', header: 'x-k', rate: 10, per: 'minute', policy: 'cluster' },
    ]);
    const values = [
      'a:b',
      'a',
      'b',
      '{slot}x',
      '{slot}y',
      'with space',
      ':',
      'x'.repeat(64),
      'y'.repeat(65),
      'z'.repeat(8_000),
      '\u00e9\u00ff', // latin1 bytes in a header value
    ];
    for (const v of values) {
      const res = await gw.g.get('/keys/x', { headers: { 'x-k': Buffer.from(v, 'latin1').toString('latin1') } });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      // burst 10, one spent: each value has a bucket of its own, none shares another's.
      expect(res.headers.get('ratelimit-remaining')).toBe('9');
    }
    const keys = await redis.keys(`${gw.prefix}rl:${id}:0:*`);
    expect(keys.length).toBe(values.length);
    for (const k of keys) {
      const ttl = await redis.pttl(k);
      // A per-minute bucket of burst = rate is full again within a minute (+1 s): the key expires by then.
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(61_000);
      expect(Buffer.byteLength(k)).toBeLessThanOrEqual(gw.prefix.length + `rl:${id}:0:`.length + 128);
    }
  });

  // Fixed: a header value that starts with `sha256:` is hashed too, so a plain key never looks like a hashed one.
  it('a short header value that spells the digest of a long one does not share its bucket', async () => {
    await limitedApi(gw, 'digest', [
      { by: 'header', header: 'x-k', rate: 1, per: 'hour', burst: 1, policy: 'cluster' },
    ]);
    const long = `tenant-${'q'.repeat(100)}`;
    const spelled = `sha256:${createHash('sha256').update(long, 'latin1').digest('base64url')}`;
    expect(spelled.length).toBeLessThanOrEqual(64);
    expect((await gw.hit('/digest/x', { 'x-k': long })).status).toBe(200);
    expect((await gw.hit('/digest/x', { 'x-k': long })).status).toBe(429);
    expect((await gw.hit('/digest/x', { 'x-k': spelled })).status).toBe(200);
  });

  // Fixed: a cluster limit's Redis key holds a digest of its settings (`rl:<api>:<index>:<digest>:<key>`).
  it('a changed cluster limit starts afresh, as a changed local limit does', async () => {
    const run = async (name: string, policy: 'local' | 'cluster') => {
      const limit = { by: 'api', rate: 1, per: 'hour', policy };
      const id = await limitedApi(gw, name, [{ ...limit, burst: 2 }]);
      const before: number[] = [];
      for (let i = 0; i < 3; i++) before.push((await gw.hit(`/${name}/x`)).status);
      expect(before).toEqual([200, 200, 429]);
      const res = await gw.g.admin('PATCH', `/admin/apis/${id}`, { access: { limits: [{ ...limit, burst: 20 }] } });
      expect(res.status).toBe(200);
      // Wait (bounded) until the new limit serves; the first answer it gives is the one that counts.
      for (let i = 0; i < 100; i++) {
        const a = await gw.hit(`/${name}/x`);
        if (a.headers.get('ratelimit-limit') === '20') return a.status;
        await sleep(30);
      }
      throw new Error('the changed limit never served');
    };
    expect(await run('changed-local', 'local')).toBe(200);
    expect(await run('changed-cluster', 'cluster')).toBe(200);
  }, 30_000);
  // Fixed: a take is sized by the requests waiting when it is sent, and a take after which Redis still had tokens costs no round.
  it('a burst of concurrent requests on a fresh shared bucket all pass (Redis 150 ms away)', async () => {
    const slow = await startDelayProxy(own.port, 150);
    const far = await gatewayOn(slow.port, 2_000);
    try {
      await waitStatus(far, (s) => s.redis.connected, 'Redis connected through the delay');
      await limitedApi(far, 'burst8', [{ by: 'api', rate: 8, per: 'hour', burst: 8, policy: 'cluster' }]);
      await limitedApi(far, 'burst100', [{ by: 'api', rate: 100, per: 'hour', burst: 100, policy: 'cluster' }]);
      const burst = async (path: string, n: number) =>
        (await Promise.all(Array.from({ length: n }, () => far.hit(path)))).map((a) => a.status);
      const eight = await burst('/burst8/x', 8);
      const hundred = await burst('/burst100/x', 100);
      expect({
        burst8: eight.filter((c) => c === 200).length,
        burst100: hundred.filter((c) => c === 200).length,
      }).toEqual({
        burst8: 8,
        burst100: 100,
      });
    } finally {
      await far.g.stop();
      await slow.close();
    }
  }, 30_000);
});
