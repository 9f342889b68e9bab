import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { watchSqliteFile, watchStoreWrites } from '../../src/snapshot/store-watch.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../store/fixtures.js';

// A gateway on SQLite hears another process's commit through the file, not only at its next poll.
const log = pino({ level: 'silent' });
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Resolves once `count()` moved past `from`, failing after 5 s (the poll it replaces is not running here at all). */
async function movesPast(count: () => number, from: number): Promise<void> {
  for (let i = 0; i < 250 && count() <= from; i++) await new Promise((r) => setTimeout(r, 20));
  expect(count()).toBeGreaterThan(from);
}

async function twoConnections(): Promise<{ file: string; writer: Store; reader: Store }> {
  const dir = tempDir('isogate-watch-');
  cleanups.push(dir.remove);
  const file = join(dir.dir, 'isogate.db');
  const writer = await openSqliteStore(file);
  const reader = await openSqliteStore(file);
  cleanups.push(
    () => writer.close(),
    () => reader.close(),
  );
  return { file, writer, reader };
}

describe('watching the SQLite file', () => {
  it('reports a commit made through another connection to the same file', async () => {
    const { file, writer, reader } = await twoConnections();
    let calls = 0;
    cleanups.push(watchStoreWrites(reader, { kind: 'sqlite', file }, log, () => calls++));
    const before = calls;
    await writer.putVariable('IP1_enable', 'false');
    await movesPast(() => calls, before);
    expect(await reader.version()).toBe(await writer.version());
  });

  it('ignores other files in the folder (the token, the shared-memory file)', async () => {
    const { file } = await twoConnections();
    let calls = 0;
    cleanups.push(watchSqliteFile(file, log, () => calls++));
    writeFileSync(join(file, '..', 'admin-token'), 'x');
    writeFileSync(`${file}-shm-other`, 'x');
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toBe(0);
  });

  it('stops when asked', async () => {
    const { file, writer } = await twoConnections();
    let calls = 0;
    watchSqliteFile(file, log, () => calls++)();
    await writer.putVariable('IP2_enable', 'true');
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toBe(0);
  });

  it('a folder that cannot be watched leaves the poll to do the work, without failing', () => {
    const stop = watchSqliteFile('/nonexistent-isogate-dir/isogate.db', log, () => undefined);
    expect(() => stop()).not.toThrow();
  });
});
