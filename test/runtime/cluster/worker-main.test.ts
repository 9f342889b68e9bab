/**
 * Gateway workers outlive their primary (`isogate start --workers 2`, real processes): when the
 * primary is killed with SIGKILL, each worker stops accepting, finishes the requests in flight and
 * exits; none of those requests is lost. And `/status/ready` stays 200 while one worker is killed
 * and restarted, since the other serves.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, IsogateProcesses } from '../../helpers/cluster.js';
import { adminClient, requestOnce, until } from '../../helpers/processes.js';

const TOKEN = 'worker-main-token-0123456789abcdef';
const ANSWER_MS = 1_500;
const procs = new IsogateProcesses(TOKEN);
let slow: Server;
let slowUrl = '';

beforeAll(async () => {
  slow = createServer((_req, res) => setTimeout(() => res.end('slow'), ANSWER_MS));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await procs.stopAll();
  slow?.closeAllConnections();
  slow?.close();
});

/** One GET on its own connection; resolves with the status and body, or `error:<code>`. */
function getOwnConnection(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(`error:${err.code ?? err.message}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error:${err.code ?? err.message}`));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the primary killed with SIGKILL while requests are in flight', () => {
  it('leaves its workers to finish every request in flight, stop accepting, and exit', async () => {
    const gw = await procs.start('start', ['--workers', '2', '--no-demo', '--drain-ms', '5000']);
    const call = adminClient(() => gw.admin, TOKEN);
    const api = await call('POST', '/admin/apis', {
      name: 'slow',
      path: '/slow',
      algorithm: 'round_robin',
      retries: 0,
    });
    await call('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'slow',
      connector: { kind: 'simple-url', url: slowUrl },
    });
    const workers = (await getJson(gw.status, '/status')).body.workers as Array<{ pid: number }>;
    expect(workers).toHaveLength(2);
    const inFlight = Array.from({ length: 20 }, () => getOwnConnection(gw.gateway, '/slow'));
    // Every request has reached its node before the primary goes.
    await new Promise((r) => setTimeout(r, ANSWER_MS / 3));
    process.kill(gw.child.pid!, 'SIGKILL');
    const answers = await Promise.all(inFlight);
    expect(answers).toEqual(Array(20).fill('200 slow'));
    // Then the workers close the port and exit (bounded by --drain-ms).
    await until(
      async () => workers.every((w) => !alive(w.pid)),
      (gone) => gone,
      200,
      50,
    );
    expect(await requestOnce(gw.gateway, '/slow').catch((err: NodeJS.ErrnoException) => err.code)).toBe('ECONNREFUSED');
  }, 60_000);
});

describe('one worker killed while /status/ready is polled every 50 ms', () => {
  it('stays 200 while the other worker serves, and says how many serve', async () => {
    const gw = await procs.start('start', ['--workers', '2', '--no-demo']);
    const workers = (await getJson(gw.status, '/status')).body.workers as Array<{ pid: number }>;
    const seen: Array<{ status: number; serving: number }> = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const { status, body } = await getJson(gw.status, '/status/ready');
        seen.push({ status, serving: body.workersServing });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    process.kill(workers[0]!.pid, 'SIGKILL');
    // Until the worker is back (restarted at once) and both serve again.
    await until(
      async () => seen.slice(5).some((s) => s.serving === 2) && seen.some((s) => s.serving === 1),
      (ok) => ok,
      200,
      50,
    );
    polling = false;
    await poll;
    expect(seen.filter((s) => s.serving === 1).length).toBeGreaterThan(0);
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
  }, 60_000);
});
