import { fieldChanges } from '../model/field-diff.js';
import type { PlanResult } from '../model/audit.js';
import { opOf, type Change } from '../store/changes.js';
import { DryRunResult } from '../store/errors.js';
import { canonical } from '../store/plans.js';
import type { Planner, Store } from '../store/store.js';
import { withWriteScope, type WriteScope } from '../store/write-scope.js';
import { ConfigFile } from './format.js';
import { SECTIONS, type PlanContext } from './sections.js';

/** The cause audit rows of a config apply carry. */
export const APPLY_CAUSE = 'config apply';

/** Validates a parsed file; throws the ZodError (every bad field with its path) when it is not a valid config file. */
export function parseConfigFile(value: unknown): ConfigFile {
  return ConfigFile.parse(value) as ConfigFile;
}

/**
 * The planner that makes the stored config equal to the file: each section the file lists matches its
 * entries by name, puts what differs and deletes what the list leaves out; a section the file omits
 * is left as stored. Runs inside the store's write transaction, so the decision and the write see
 * the same config.
 */
export function applyPlanner(file: ConfigFile): Planner {
  return (state) => {
    const ctx: PlanContext = { state, apiIds: new Map(), now: new Date().toISOString() };
    return SECTIONS.flatMap((section) => {
      const entries = file[section.key];
      return entries === undefined ? [] : section.plan(entries as never[], ctx);
    });
  };
}

/** Applies a valid file in one transaction (one config version, audited as `config apply`). */
export function applyConfigFile(store: Store, file: ConfigFile): Promise<PlanResult> {
  return store.applyPlan(applyPlanner(file), APPLY_CAUSE);
}

/** The changes an apply would commit are not the ones its diff showed (another writer came between): nothing was applied. */
export class ConfigChangedError extends Error {
  override readonly name = 'ConfigChangedError';
  constructor(readonly unshown: readonly string[]) {
    super(
      `the stored config changed since the diff was made, so the apply would also do what was not shown (${unshown.slice(0, 3).join('; ')}${unshown.length > 3 ? '; …' : ''}); nothing was applied`,
    );
  }
}

// What may differ between two runs of one plan over the same config: a new object's ids, every save's time.
const RUN_FIELDS: ReadonlySet<string> = new Set(['id', 'apiId', 'createdAt', 'updatedAt']);

/** One change as a comparable line: its kind, name, op and both sides' content. */
function changeKey(c: Change): string {
  return `${opOf(c)} ${c.kind} ${c.name} ${canonical(c.before, RUN_FIELDS)} ${canonical(c.after, RUN_FIELDS)}`;
}

/**
 * The write-scope check that makes an apply commit only changes that `shown` (the diff printed before
 * it) holds, compared whole (content, not just names), inside the apply's transaction: a write by
 * someone else to what the file touches throws ConfigChangedError. Writes elsewhere do not matter, nor
 * does another writer having made one of the shown changes already.
 */
export function confirmShown(shown: readonly Change[]): (changes: readonly Change[]) => void {
  const expected = new Set(shown.map(changeKey));
  return (changes) => {
    const unshown = changes.filter((c) => !expected.has(changeKey(c))).map((c) => `${opOf(c)} ${c.kind} ${c.name}`);
    if (unshown.length > 0) throw new ConfigChangedError(unshown);
  };
}

/** What applying a file would change, worked out in a rolled-back transaction; nothing is written. */
export async function previewConfigFile(store: Store, file: ConfigFile, scope: WriteScope): Promise<readonly Change[]> {
  try {
    await withWriteScope({ ...scope, dryRun: true }, () => applyConfigFile(store, file));
  } catch (err) {
    if (err instanceof DryRunResult) return err.changes;
    throw err;
  }
  // No change at all: the store made no version and had nothing to roll back.
  return [];
}

// Controls (C0, DEL, C1): a value that holds one would move a terminal's cursor or forge lines of the diff.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `line` with each control character shown as its `\u` escape. */
function printable(line: string): string {
  return line.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A diff for people: `+ api demo`, `~ node demo/ip1-a` with its changed fields, `- variable X`;
 * control characters of names and values are printed escaped, so a file cannot rewrite the terminal.
 */
export function diffLines(changes: readonly Change[]): string[] {
  const sign = { create: '+', update: '~', delete: '-' } as const;
  return changes.flatMap((c) =>
    [
      `${sign[opOf(c)]} ${c.kind} ${c.name}`,
      ...(opOf(c) === 'update' ? fieldChanges(c.before, c.after, 120).map((l) => `    ${l}`) : []),
    ].map(printable),
  );
}
