import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { until } from '../helpers/processes.js';

// A stored config that does not load is logged once a minute while it lasts, whatever asks for the
// load: the version poll, and also the SQLite file watch, which every heartbeat of the process sets off.
let gw: TestGateway | null = null;
afterEach(async () => {
  await gw?.stop();
  if (gw) rmSync(gw.dataDir, { recursive: true, force: true });
  gw = null;
});

describe('a stored config that fails to load', () => {
  it('is logged once for the same failure, not at every poll, heartbeat or notification', async () => {
    const lines: Array<{ msg: string; level: number; failuresNotLogged?: number }> = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    gw = await startTestGateway(['--poll-ms', '50', '--heartbeat-ms', '50'], {}, log);
    const created = await gw.admin('POST', '/admin/apis', { name: 'a', path: '/a/*', algorithm: 'round_robin' });
    expect(created.status).toBe(201);
    // A row the store cannot read back, written past the admin API (a hand edit, a broken restore).
    const db = new Database(join(gw.dataDir, 'isogate.db'));
    try {
      db.prepare("UPDATE apis SET methods = 'not json'").run();
      db.prepare('UPDATE meta SET config_version = config_version + 1').run();
    } finally {
      db.close();
    }
    const failed = () => lines.filter((l) => l.msg.startsWith('config refresh failed'));
    await until(
      async () => failed().length,
      (n) => n > 0,
    );
    // A second of polls every 50 ms and heartbeats every 50 ms, each of which loads again and fails.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(failed()).toHaveLength(1);
    // The failure lasts: the process says so where it is asked, whatever the log left out.
    const status = (await (await fetch(`${gw.statusUrl}/status`)).json()) as {
      degraded: boolean;
      config: { lastError: { message: string } | null };
    };
    expect(status.degraded).toBe(true);
    expect(status.config.lastError?.message).toEqual(expect.any(String));
  }, 20_000);
});
