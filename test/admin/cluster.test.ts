import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/model/cluster.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { until } from '../helpers/processes.js';

// `GET /admin/cluster` on a real in-process isogate (SQLite): its own row, a process that stopped
// beating, and the row's removal on a clean stop.
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway(['--heartbeat-ms', '100']);
});

afterAll(async () => {
  rmSync(t.dataDir, { recursive: true, force: true });
});

describe('GET /admin/cluster', () => {
  it('needs the admin token', async () => {
    const res = await fetch(`${t.adminUrl}/admin/cluster`);
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('UNAUTHORIZED');
  });

  it('lists this process, alive, with the config version it serves, and follows a write at once', async () => {
    const first = await until(
      () => t.admin('GET', '/admin/cluster'),
      (r) => r.body.processes.length === 1,
    );
    expect(first.status).toBe(200);
    const view = ClusterView.parse(first.body);
    expect(view.staleAfterBeats).toBe(3);
    expect(view.processes[0]).toMatchObject({
      host: hostname(),
      pid: process.pid,
      role: 'start',
      worker: null,
      serves: 'both',
      configVersion: view.configVersion,
      heartbeatMs: 100,
      state: 'alive',
    });
    expect(view.processes[0]!.ageMs).toBeLessThan(300);

    const written = await t.admin('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    expect(written.status).toBe(201);
    const after = await until(
      () => t.admin('GET', '/admin/cluster'),
      (r) => r.body.processes[0]?.configVersion === r.body.configVersion,
      40,
      50,
    );
    expect(after.body.configVersion).toBe(view.configVersion + 1);
  });

  it('shows a process that stopped beating as stale, beside the alive one', async () => {
    await t.app.store.heartbeat({
      id: 'gone',
      host: 'gw-9.internal',
      pid: 99,
      role: 'gateway',
      worker: 2,
      serves: 'gateway',
      startedAt: new Date().toISOString(),
      configVersion: 0,
      heartbeatMs: 50,
    });
    const fresh = (await t.admin('GET', '/admin/cluster')).body as ClusterView;
    expect(fresh.processes.find((p) => p.id === 'gone')?.state).toBe('alive');
    const later = await until(
      () => t.admin('GET', '/admin/cluster'),
      (r) => r.body.processes.find((p: { id: string }) => p.id === 'gone')?.state === 'stale',
      40,
      50,
    );
    const states = Object.fromEntries((later.body as ClusterView).processes.map((p) => [p.pid, p.state]));
    expect(states).toEqual({ 99: 'stale', [process.pid]: 'alive' });
    expect((later.body as ClusterView).processes.find((p) => p.id === 'gone')!.ageMs).toBeGreaterThan(150);
  });

  it('removes its own row when it stops cleanly', async () => {
    await t.app.close();
    const store = await openSqliteStore(join(t.dataDir, 'isogate.db'));
    try {
      const left = (await store.listProcesses()).processes.map((p) => p.id);
      expect(left).toEqual(['gone']);
    } finally {
      await store.close();
    }
  });
});
