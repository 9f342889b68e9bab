import type pg from 'pg';
import type { Logger } from 'pino';
import type { PlanResult } from '../../model/audit.js';
import { isConfigWrite, summarize } from '../changes.js';
import { AUDIT_COLUMNS, auditRows, checkBeforeCommit, idempotencyRow, selectorGrowth } from '../commit.js';
import { StoreOutcomeUnknownError, StoreUnavailableError } from '../errors.js';
import type { PlannedWrite } from '../plans.js';
import { newVersionToken } from '../version-stamp.js';
import { currentWriteScope } from '../write-scope.js';
import { nowIso, type WriteOutcome } from '../write-steps.js';
import { listApis } from './apis.js';
import { CONFIG_CHANNEL, type Tx } from './connection.js';
import type { HealthTracker } from './health.js';
import { execute } from './objects.js';
import { pruneAudit, recordKey } from './records.js';
import { SQL } from './sql.js';
import { asStoreError, describe, isConnectionError, isSchemaError } from './unavailable.js';
import { WriteTurns } from './write-turns.js';

/**
 * How the PostgreSQL store talks to its pool: every write one READ COMMITTED transaction serialized
 * on the meta row (audit rows, If-Match, dry run and Idempotency-Key of the write scope, one version
 * bump and NOTIFY on commit), each try bounded by the operation timeout (of silence: every answer
 * restarts it). A pooled connection that turns out dead (after a failover, a restart, a NAT timeout)
 * costs a retry on the next one, for reads and for writes whose COMMIT was not sent (the server rolls
 * back what a lost connection left open); the outcome of a COMMIT whose answer was lost is reported
 * as unknown, never retried.
 */
export class Transactions {
  /** Tries of one read or write: each pooled connection may be dead once, then a new one is made. */
  private readonly maxTries: number;
  /** This process's writes, one at a time, so waiting writes hold no pooled connection. */
  private readonly turns: WriteTurns;

  constructor(
    private readonly pool: pg.Pool,
    private readonly tracker: HealthTracker,
    private readonly log: Logger,
    private readonly operationTimeoutMs: number,
    poolSize: number,
  ) {
    this.maxTries = poolSize + 1;
    this.turns = new WriteTurns(operationTimeoutMs);
  }

  /**
   * Runs one write transaction, serialized on the meta row. When the step changed something, the
   * audit rows, If-Match, dry run and Idempotency-Key of the current write scope are handled here
   * (src/store/commit.ts), and a config change bumps the version once and notifies listeners on
   * commit. A throw anywhere (validation, conflict, constraint) rolls everything back.
   */
  async write<T>(step: (tx: Tx) => Promise<WriteOutcome<T>>, cause: string | null = null): Promise<T> {
    return (await this.writeVersioned(step, cause)).value;
  }

  private async writeVersioned<T>(
    step: (tx: Tx) => Promise<WriteOutcome<T>>,
    cause: string | null,
  ): Promise<{ value: T; version: number | null }> {
    const scope = currentWriteScope();
    return this.turns.run(() =>
      this.retried(() => this.onConnection((tx) => commitWrite(tx, step, scope, cause), 'BEGIN', true), 'write'),
    );
  }

  /** A write that executes a plan (revert, restore, config apply) and answers with what it changed. */
  async writePlan(plan: (tx: Tx) => Promise<PlannedWrite[]>, cause: string): Promise<PlanResult> {
    const { value, version } = await this.writeVersioned(async (tx) => {
      const changes = await execute(tx, await plan(tx));
      return { value: changes, changes };
    }, cause);
    return summarize(value, version);
  }

  /** Runs a read; retried when a pooled connection turns out to be dead. */
  async read<T>(work: (client: Tx) => Promise<T>, begin: string | null = null): Promise<T> {
    return this.retried(() => this.onConnection(work, begin), 'read');
  }

  /**
   * Runs `attempt` again while it fails on a connection that died under it, maxTries in all. A
   * StoreUnavailableError (no connection could be made, or no answer within the timeout) and a lost
   * COMMIT (StoreOutcomeUnknownError) are not retried: another try would only wait again, or could
   * write twice.
   */
  private async retried<T>(attempt: () => Promise<T>, what: 'read' | 'write'): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof StoreUnavailableError || !isConnectionError(err) || tries >= this.maxTries)
          throw this.failure(err);
        this.log.debug({ err: describe(err), tries }, `store connection dropped; retrying the ${what}`);
      }
    }
  }

  /**
   * Runs `work` on one pooled connection, in a transaction opened with `begin` when given. For a
   * write, a connection lost (or timed out) once COMMIT was sent is StoreOutcomeUnknownError: the
   * server may have committed before the answer was lost, so "nothing was written" would be a lie.
   */
  private async onConnection<T>(work: (client: Tx) => Promise<T>, begin: string | null, writes = false): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.failure(err);
    }
    let broken = false;
    let commitSent = false;
    let timer: NodeJS.Timeout | undefined;
    // The timeout is one of silence: each answer restarts it, so a long plan (a config apply of
    // thousands of objects, a query each) runs as long as the server keeps answering.
    const query = client.query;
    client.query = function (this: pg.PoolClient, ...args: unknown[]) {
      const result: unknown = (query as (...a: unknown[]) => unknown).apply(this, args);
      if (result instanceof Promise)
        result.then(
          () => timer?.refresh(),
          () => undefined,
        );
      return result;
    } as typeof client.query;
    const run = (async () => {
      if (begin !== null) await client.query(begin);
      const result = await work(client);
      if (begin !== null) {
        commitSent = true;
        await client.query('COMMIT');
      }
      return result;
    })();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreUnavailableError(`PostgreSQL store unreachable: no answer within ${this.operationTimeoutMs} ms`),
          ),
        this.operationTimeoutMs,
      );
    });
    try {
      const result = await Promise.race([run, deadline]);
      this.tracker.poolSucceeded();
      return result;
    } catch (err) {
      // A timed-out connection is in an unknown state (maybe mid-transaction): never reused, and its late outcome ignored.
      if (err instanceof StoreUnavailableError) {
        run.catch(() => undefined);
        broken = true;
      } else {
        broken = isConnectionError(err) || (begin !== null && !(await rollback(client)));
      }
      if (writes && commitSent && (err instanceof StoreUnavailableError || isConnectionError(err))) {
        this.tracker.poolFailed(describe(err));
        throw new StoreOutcomeUnknownError(`PostgreSQL connection lost after COMMIT was sent: ${describe(err)}`, {
          cause: err,
        });
      }
      throw err;
    } finally {
      clearTimeout(timer);
      Reflect.deleteProperty(client, 'query'); // the prototype's again
      // A broken connection is destroyed rather than handed to the next caller.
      client.release(broken ? true : undefined);
    }
  }

  /**
   * Maps a connection failure, a server-side timeout or a missing table, column or schema to
   * StoreUnavailableError (and records it in the store's health); any other error unchanged.
   */
  failure(err: unknown): unknown {
    const mapped = asStoreError(err);
    if (mapped instanceof StoreUnavailableError)
      this.tracker.poolFailed(isSchemaError(mapped.cause) ? mapped.message : describe(mapped.cause ?? mapped));
    return mapped;
  }
}

/**
 * One write's transaction body, after BEGIN and before COMMIT: the meta row locked, the step, then
 * (when it changed something) the checks of the write scope, the version bump with its NOTIFY, the
 * audit rows and the Idempotency-Key.
 */
async function commitWrite<T>(
  tx: Tx,
  step: (tx: Tx) => Promise<WriteOutcome<T>>,
  scope: ReturnType<typeof currentWriteScope>,
  cause: string | null,
): Promise<{ value: T; version: number | null }> {
  await tx.query(SQL.lockMeta);
  const { value, changes } = await step(tx);
  if (changes.length === 0) return { value, version: null };
  const growth = selectorGrowth(scope, changes);
  checkBeforeCommit(scope, changes, value, growth && { delta: growth, apis: await listApis(tx) });
  let version: number | null = null;
  if (isConfigWrite(changes)) {
    version = (await tx.query<{ config_version: number }>(SQL.bumpVersion, [newVersionToken()])).rows[0]!
      .config_version;
    await tx.query(SQL.notify, [CONFIG_CHANNEL, String(version)]);
  }
  const at = nowIso();
  for (const row of auditRows(scope, changes, version, cause, at))
    await tx.query(
      SQL.insertAudit,
      AUDIT_COLUMNS.map((c) => row[c]),
    );
  await pruneAudit(tx);
  const key = idempotencyRow(scope, value, changes, version, at);
  if (key) await recordKey(tx, key);
  return { value, version };
}

/** Rolls back; false when that failed too (the connection is then unusable). */
async function rollback(client: Tx): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}
