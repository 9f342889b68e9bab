/**
 * Cost of one selector call through SelectorSandbox: sequential latency, throughput with many calls
 * in flight, the gateway process's CPU per call, and the time spent inside the isolate; then the
 * same selector with `memoize: true`, answered from its result cache.
 *
 *   node --no-node-snapshot --import tsx bench/selector-cost.ts [calls] [concurrency]
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { SelectorSandbox } from '../src/selector/sandbox.js';
import type { SelectOutcome, SelectorHandle, SelectorNode, SelectorRequest } from '../src/selector/types.js';

const CALLS = Number(process.argv[2] ?? 20_000);
const CONCURRENCY = Number(process.argv[3] ?? 50);

const CANARY = `function select(request, env, nodes) {
  if (request.query.select_code === "temp_node") return nodes.filter(n => n.tags.includes("temp"));
  return nodes.filter(n => !n.tags.includes("temp"));
}`;

const nodes: SelectorNode[] = Array.from({ length: 6 }, (_, i) => ({
  id: `node-${i}`,
  name: `node ${i}`,
  url: `http://127.0.0.1:${9000 + i}`,
  weight: 1 + (i % 3),
  tags: i === 5 ? ['temp'] : [],
}));
const candidates = [0, 1, 2, 3, 5];

const request: SelectorRequest = {
  method: 'GET',
  path: '/api/orders/123',
  query: { page: '2', select_code: 'x' },
  headers: {
    host: '127.0.0.1:8080',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    accept: 'application/json',
    'accept-encoding': 'gzip, deflate, br',
    'x-request-id': '0f8a2b4c-6d1e-4f3a-9b7c-2e5d8a1f0c3b',
    connection: 'keep-alive',
  },
  body: null,
  clientIp: '127.0.0.1',
};

/** CPU seconds (user + system) of another process, from /proc; null where unavailable. */
function processCpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks, USER_HZ = 100
  } catch {
    return null;
  }
}

/** CPU ms of all the sandbox's host processes (the idle ones add nothing while one serves). */
function hostsCpuMs(sandbox: SelectorSandbox): number | null {
  let sum = 0;
  for (const pid of sandbox.hosts().slots) {
    if (pid === null) continue;
    const ms = processCpuMs(pid);
    if (ms === null) return null;
    sum += ms;
  }
  return sum;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function check(outcome: SelectOutcome): void {
  if (!outcome.ok || outcome.picked.length !== 4) throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
}

/** Other gateway work simulated per call in the busy run, in µs. */
const BUSY_US = 30;

function spin(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

interface Throughput {
  ms: number;
  gatewayUs: number;
  hostUs: number | null;
  isolateUs: number;
  perWrite: number;
}

async function throughput(
  sandbox: SelectorSandbox,
  handle: SelectorHandle,
  busyUs: number,
  requestFor: (i: number) => SelectorRequest = () => request,
): Promise<Throughput> {
  const cpu0 = process.cpuUsage();
  const host0 = hostsCpuMs(sandbox);
  const frames0 = sandbox.hosts().written.frames;
  let issued = 0;
  let isolateUs = 0;
  let spunUs = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (issued < CALLS) {
      const i = issued++;
      if (busyUs > 0) {
        const s0 = performance.now();
        spin(busyUs);
        spunUs += (performance.now() - s0) * 1000;
      }
      const outcome = await handle.select(requestFor(i), candidates);
      if (!outcome.ok) throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
      isolateUs += outcome.runUs ?? 0;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const host1 = hostsCpuMs(sandbox);
  return {
    ms,
    gatewayUs: (cpu.user + cpu.system - spunUs) / CALLS,
    hostUs: host0 === null || host1 === null ? null : ((host1 - host0) * 1000) / CALLS,
    isolateUs: isolateUs / CALLS,
    perWrite: CALLS / Math.max(1, sandbox.hosts().written.frames - frames0),
  };
}

/**
 * scripts-examples/by-user-percent.js as saved by default (memoize "auto"), a new user id on every
 * call: every call misses and runs in the sandbox, checked for kept state after each run.
 */
async function byUser(sandbox: SelectorSandbox): Promise<string> {
  const code = readFileSync(new URL('../scripts-examples/by-user-percent.js', import.meta.url), 'utf8');
  const handle = await sandbox.load(
    { apiId: 'bench-by-user', config: { code, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: 'auto' } },
    nodes,
    {},
  );
  const run = Date.now();
  const r = await throughput(sandbox, handle, 0, (i) => ({
    ...request,
    query: { uid: `u${run}-${i}` },
  }));
  handle.release();
  return (
    `by-user-percent (memoize "auto"), a new user id per call, ${CONCURRENCY} in flight: ${Math.round((CALLS / r.ms) * 1000)} calls/s;` +
    ` gateway CPU ${r.gatewayUs.toFixed(2)} µs/call; host CPU ${r.hostUs === null ? 'n/a' : r.hostUs.toFixed(1)} µs/call;` +
    ` in isolate ${r.isolateUs.toFixed(1)} µs/call; ${r.perWrite.toFixed(1)} calls per write`
  );
}

/** Sequential calls of the same selector with `memoize: true`: all but the first are cache hits. */
async function memoizedHits(sandbox: SelectorSandbox): Promise<string> {
  const handle = await sandbox.load(
    { apiId: 'bench-memo', config: { code: CANARY, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: true } },
    nodes,
    { IP1_enable: 'true' },
  );
  check(await handle.select(request, candidates));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let hits = 0;
  for (let i = 0; i < CALLS; i++) {
    const outcome = await handle.select(request, candidates);
    check(outcome);
    if (outcome.ok && outcome.cached) hits++;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // Let the verifier's last re-runs come back, so its count is complete.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const verifier = sandbox.memoVerifications();
  handle.release();
  return (
    `memoized (memoize: true), sequential: ${CALLS} calls, ${hits} cache hits, ${((ms * 1000) / CALLS).toFixed(2)} µs/call wall;` +
    ` gateway CPU ${((cpu.user + cpu.system) / CALLS).toFixed(2)} µs/call (the verifier's sampling included);` +
    ` verifier: ${verifier.verified} re-runs compared, ${verifier.mismatches} differed, ${verifier.skipped} skipped`
  );
}

async function main(): Promise<void> {
  const sandbox = await SelectorSandbox.start({ logger: pino({ level: 'warn' }) });
  try {
    const handle = await sandbox.load(
      { apiId: 'bench', config: { code: CANARY, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: false } },
      nodes,
      { IP1_enable: 'true' },
    );
    for (let i = 0; i < 2000; i++) check(await handle.select(request, candidates));

    // Sequential: one call at a time.
    const latencies: number[] = [];
    let runUs = 0;
    const seqCalls = Math.min(CALLS, 10_000);
    const t0 = performance.now();
    for (let i = 0; i < seqCalls; i++) {
      const outcome = await handle.select(request, candidates);
      check(outcome);
      latencies.push(outcome.durationUs);
      runUs += outcome.runUs ?? 0;
    }
    const seqMs = performance.now() - t0;
    latencies.sort((a, b) => a - b);

    // Throughput: CONCURRENCY calls in flight.
    const free = await throughput(sandbox, handle, 0);
    // The same with ~30 µs of other work per call, as a busy gateway would do: batches grow.
    const busy = await throughput(sandbox, handle, BUSY_US);

    const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(1);
    console.log(`selector call cost (${nodes.length} nodes, ${candidates.length} candidates, Node ${process.version})`);
    console.log(
      `sequential: ${seqCalls} calls, ${us(seqMs, seqCalls)} µs/call wall;` +
        ` latency p50 ${percentile(latencies, 0.5)} µs, p99 ${percentile(latencies, 0.99)} µs;` +
        ` in isolate ${(runUs / seqCalls).toFixed(1)} µs/call`,
    );
    for (const [label, r] of [
      ['idle gateway', free],
      [`busy gateway (+${BUSY_US} µs work per call, not counted)`, busy],
    ] as const) {
      console.log(
        `concurrent, ${CONCURRENCY} in flight, ${label}: ${Math.round((CALLS / r.ms) * 1000)} calls/s;` +
          ` gateway CPU ${r.gatewayUs.toFixed(2)} µs/call; host CPU ${r.hostUs === null ? 'n/a' : r.hostUs.toFixed(1)} µs/call;` +
          ` in isolate ${r.isolateUs.toFixed(1)} µs/call; ${r.perWrite.toFixed(1)} calls per write`,
      );
    }
    console.log(await byUser(sandbox));
    console.log(await memoizedHits(sandbox));
  } finally {
    await sandbox.close();
  }
}

await main();
