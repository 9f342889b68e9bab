import type { z } from 'zod';
import type { PlannedWrite } from '../store/plans.js';
import type { ConfigState } from '../store/store.js';

// The contract of one object kind in a config file (src/config-files/sections.ts lists them).

/** What an export leaves out. */
export interface ExportOptions {
  /** Include secrets (a certificate's private key, a consumer's credentials) instead of leaving them out. */
  readonly secrets: boolean;
}

/** What a section's planner works with: the stored config and what earlier sections decided. */
export interface PlanContext {
  readonly state: ConfigState;
  /** API ids by name key: the stored ones the file keeps, and new ids for the APIs it creates. */
  readonly apiIds: Map<string, string>;
  readonly now: string;
}

/**
 * One object kind in a config file: its top-level key, how one entry is written (the same zod models
 * as the admin API, so the JSON Schema follows them), how the stored objects are exported, and how a
 * file's entries become a plan (match by name, put what differs, delete what the file leaves out).
 * A new kind is one more section; one whose objects hold secrets leaves them out of `export` unless
 * `options.secrets`, and keeps the stored secret when an entry comes without it.
 */
export interface Section<E> {
  readonly key: string;
  readonly entry: z.ZodType<E>;
  /** Most entries a file may hold. */
  readonly max: number;
  export(state: ConfigState, options: ExportOptions): E[];
  plan(entries: readonly E[], ctx: PlanContext): PlannedWrite[];
  /** Checks across the section's entries (a name listed twice), each issue with its path in the file. */
  check?(entries: readonly E[]): FileIssue[];
}

/** A problem of a file, named by its path (`apis.3.path`). */
export interface FileIssue {
  path: PropertyKey[];
  message: string;
}
