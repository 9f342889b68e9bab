import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { failureKind, refusalCode } from '../../src/gateway/stages/try-failure.js';
import type { RequestContext } from '../../src/gateway/context.js';
import { upstreamSocketsWithin } from '../../src/runtime/fd-limit.js';
import {
  ConnectError,
  OutOfFilesError,
  QueueTimeoutError,
  SocketsExhaustedError,
  socketFailure,
} from '../../src/upstream/errors.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { OUT_OF_FILES_LOG_MS, outOfFilesLog, SocketBudget } from '../../src/upstream/socket-budget.js';

// The process-wide budget of upstream sockets: pools of different origins share it; with no place
// free, the least recently used idle socket of any pool is closed; with none idle, requests wait.

const servers: Server[] = [];
const pools: UpstreamPool[] = [];

afterEach(() => {
  for (const p of pools.splice(0)) p.destroy();
});
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** An upstream that answers its name after `delayMs`, and counts its open sockets. */
async function upstream(name: string, delayMs = 0) {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end(name), delayMs);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, open: () => sockets.size };
}

function pool(origin: string, budget: SocketBudget, waitMs = 5_000): UpstreamPool {
  const p = new UpstreamPool(
    origin,
    { connections: 8, keepAliveMs: 10_000, connectMs: 1_000, maxWaiting: 100, waitMs },
    budget,
  );
  pools.push(p);
  return p;
}

/** One GET through the pool: the answer's body, or the pool's error. */
function get(p: UpstreamPool): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    p.dispatch(
      {
        method: 'GET',
        path: '/',
        headers: ['host', 'up'],
        body: null,
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
        maxBodyBytes: Infinity,
      },
      {
        onConnect: () => {},
        onHeaders: () => true,
        onData: (c) => ((body += c.toString()), true),
        onComplete: (last) => resolve(body + (last?.toString() ?? '')),
        onError: reject,
      },
    );
  });
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('SocketBudget', () => {
  it('closes the least recently used idle socket of another pool for a new connection', async () => {
    const ups = await Promise.all(['a', 'b', 'c'].map((n) => upstream(n)));
    const budget = new SocketBudget(2);
    const [a, b, c] = ups.map((u) => pool(u.origin, budget));
    expect(await get(a!)).toBe('a');
    expect(await get(b!)).toBe('b');
    expect(budget).toMatchObject({ open: 2, idle: 2, evicted: 0 });
    expect(await get(a!)).toBe('a'); // reused: a's socket is now the most recently used
    expect(await get(c!)).toBe('c'); // no place: b's idle socket, the oldest, is closed for it
    expect(budget).toMatchObject({ open: 2, idle: 2, evicted: 1 });
    await until(() => ups[1]!.open() === 0);
    expect(ups.map((u) => u.open())).toEqual([1, 0, 1]);
    expect(a!.size + b!.size + c!.size).toBe(2);
  });

  it('with every place busy, a request waits and gets the first socket that comes free (not kept idle)', async () => {
    const slow = await upstream('slow', 300);
    const fast = await upstream('fast');
    const budget = new SocketBudget(1);
    const s = pool(slow.origin, budget);
    const f = pool(fast.origin, budget);
    const first = get(s);
    await until(() => budget.open === 1);
    const started = performance.now();
    const waiting = get(f);
    expect(f.waiting).toBe(1);
    expect(await first).toBe('slow');
    expect(await waiting).toBe('fast');
    expect(performance.now() - started).toBeGreaterThan(150);
    // The slow pool's socket was closed for the waiting request rather than kept idle.
    expect(s.size).toBe(0);
    expect(budget).toMatchObject({ open: 1, idle: 1, evicted: 0 });
  });

  it('a request that waits past waitMs for a place fails with SocketsExhaustedError; one waiting for its own pool, QueueTimeoutError', async () => {
    const slow = await upstream('slow', 600);
    const other = await upstream('other');
    const budget = new SocketBudget(1);
    const s = pool(slow.origin, budget, 150);
    const o = pool(other.origin, budget, 150);
    const held = get(s);
    await until(() => budget.open === 1);
    await expect(get(o)).rejects.toBeInstanceOf(SocketsExhaustedError);
    expect(o.waiting).toBe(0);
    await expect(held).resolves.toBe('slow');
    // Below the budget, a pool at its own bound times out as before.
    const big = new SocketBudget(100);
    const one = new UpstreamPool(
      slow.origin,
      { connections: 1, keepAliveMs: 10_000, connectMs: 1_000, maxWaiting: 10, waitMs: 150 },
      big,
    );
    pools.push(one);
    const busy = get(one);
    await expect(get(one)).rejects.toBeInstanceOf(QueueTimeoutError);
    await busy;
    // A later request to the other pool is served at once (nothing stale is left waiting).
    expect(await get(o)).toBe('other');
  });

  it('hands places to waiting pools in turn, and the count returns to what is open', async () => {
    const ups = await Promise.all(Array.from({ length: 6 }, (_, i) => upstream(`u${i}`, 20)));
    const budget = new SocketBudget(2);
    const ps = ups.map((u) => pool(u.origin, budget));
    const answers = await Promise.all(ps.flatMap((p, i) => [get(p), get(p)].map((r) => r.then((b) => [i, b]))));
    expect(answers).toEqual(
      ps.flatMap((_, i) => [
        [i, `u${i}`],
        [i, `u${i}`],
      ]),
    );
    expect(budget.open).toBeLessThanOrEqual(2);
    expect(budget.open).toBe(ps.reduce((n, p) => n + p.size, 0));
    for (const p of ps) void p.close();
    await until(() => budget.open === 0);
    expect(budget).toMatchObject({ open: 0, idle: 0 });
  });
});

describe('out of files', () => {
  it('EMFILE or ENFILE on connect is the gateway out of files, not the node failing: no passive health, its own code', () => {
    const emfile = Object.assign(new Error('connect EMFILE 127.0.0.1:80 - Local'), { code: 'EMFILE' });
    const failure = socketFailure(emfile, false, false);
    expect(failure).toBeInstanceOf(OutOfFilesError);
    expect((failure as OutOfFilesError).code).toBe('GATEWAY_OUT_OF_FILES');
    expect(socketFailure(Object.assign(new Error('x'), { code: 'ENFILE' }), false, false)).toBeInstanceOf(
      OutOfFilesError,
    );
    expect(socketFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), false, false)).toBeInstanceOf(
      ConnectError,
    );
    const ctx = { res: { destroyed: false } } as unknown as RequestContext;
    // 'queue': never held against the node, moved to another node untried (the proxy stage's rules).
    expect(failureKind(failure, ctx)).toBe('queue');
    expect(refusalCode(failure)).toBe('GATEWAY_OUT_OF_FILES');
    expect(refusalCode(new SocketsExhaustedError('x'))).toBe('UPSTREAM_SOCKETS_EXHAUSTED');
  });

  it('is logged at once, then at most once a minute with how many connects failed meanwhile; every one is counted', () => {
    const lines: Array<{ msg: string; code: string; cause: string; openFileLimit: number; failedConnects: number }> =
      [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let now = 1_000;
    const budget = new SocketBudget(
      10,
      outOfFilesLog(log, 1024, () => now),
    );
    const emfile = socketFailure(
      Object.assign(new Error('connect EMFILE 127.0.0.1:80 - Local'), { code: 'EMFILE' }),
      false,
      false,
    );
    budget.noFiles(emfile);
    expect(lines).toMatchObject([
      { code: 'GATEWAY_OUT_OF_FILES', cause: 'EMFILE', openFileLimit: 1024, failedConnects: 1 },
    ]);
    expect(lines[0]!.msg).toMatch(/^out of open files/);
    // A storm of failed connects within the minute: counted, not logged.
    for (let i = 0; i < 500; i++) {
      now += 100;
      budget.noFiles(emfile);
    }
    expect(lines).toHaveLength(1);
    expect(budget.outOfFiles).toBe(501);
    now = 1_000 + OUT_OF_FILES_LOG_MS;
    budget.noFiles(emfile);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.failedConnects).toBe(501);
    // Quiet since: the next one is logged at once, alone.
    now += 10 * OUT_OF_FILES_LOG_MS;
    budget.noFiles(emfile);
    expect(lines.map((l) => l.failedConnects)).toEqual([1, 501, 1]);
  });

  it('the budget is derived from the open-file limit beside the client connections', () => {
    // ulimit -n 1024: 768 client connections, 64 refusals, 96 upstream sockets, 96 for the rest.
    expect(upstreamSocketsWithin(1024, 768)).toBe(96);
    expect(upstreamSocketsWithin(65_536, 10_000)).toBe(27_640);
  });
});
