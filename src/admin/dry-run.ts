import type { FastifyBaseLogger } from 'fastify';
import type { ChangeOp, ObjectKind } from '../model/audit.js';
import { opOf, type Change } from '../store/changes.js';
import type { DryRunResult } from '../store/errors.js';
import { loadRuntimeView } from './availability.js';
import type { AdminDeps } from './deps.js';
import { applyChanges, impactOf, touchedApis, type Impact } from './impact.js';

/** One object a dry run would change, with how it is and how it would be. */
export interface PlannedChange {
  op: ChangeOp;
  kind: ObjectKind;
  id: string;
  name: string;
  before: object | null;
  after: object | null;
}

/**
 * The answer to any write sent with `?dryRun=true`: what it would change and what that would do to
 * traffic (null when the gateway's view could not be read); nothing was written.
 */
export interface DryRunAnswer {
  dryRun: true;
  changes: PlannedChange[];
  impact: Impact | null;
}

/** The changes of a dry run as the admin API answers them. */
export function plannedChanges(changes: readonly Change[]): PlannedChange[] {
  return changes.map((c) => ({ op: opOf(c), kind: c.kind, id: c.id, name: c.name, before: c.before, after: c.after }));
}

/** The answer to a dry run: its changes, and their impact on the APIs they reach with today's health and selector states. */
export async function dryRunAnswer(
  result: DryRunResult,
  { store, runtime }: Pick<AdminDeps, 'store' | 'runtime'>,
  log: FastifyBaseLogger,
): Promise<DryRunAnswer> {
  let impact: Impact | null = null;
  try {
    const current = await store.loadConfig();
    const next = applyChanges(current, result.changes);
    const apiIds = new Set([...touchedApis(current, result.changes), ...touchedApis(next, result.changes)]);
    const nodeIds = new Set<string>();
    for (const n of [...current.nodes, ...next.nodes]) if (apiIds.has(n.apiId)) nodeIds.add(n.id);
    impact = impactOf(current, result.changes, await loadRuntimeView(runtime, [...apiIds], [...nodeIds]));
  } catch (err) {
    log.warn({ err }, 'dry run: could not work out the impact');
  }
  return { dryRun: true, changes: plannedChanges(result.changes), impact };
}

/**
 * The answer to a dry run of a write that would change nothing (a revert, restore or apply whose
 * objects are already as asked): the store made no transaction to roll back, so the route answers it.
 */
export function nothingToChange(): DryRunAnswer {
  return { dryRun: true, changes: [], impact: { apis: [], losesLastNode: [], summary: [] } };
}
