import type { Logger } from 'pino';
import type { StoredDataError } from './errors.js';

/** How many skipped rows are remembered as reported; past that the memory starts over (bounded). */
const REMEMBERED = 1_000;

/**
 * Logs each stored row a listing skipped as unreadable once, at warn, rather than on every listing
 * that meets it again (the cluster view is polled).
 */
export class SkippedRows {
  private readonly reported = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** Reports the row of `err` unless it was reported already. */
  report(err: StoredDataError): void {
    const key = `${err.kind}\u0000${err.id}`;
    if (this.reported.has(key)) return;
    if (this.reported.size >= REMEMBERED) this.reported.clear();
    this.reported.add(key);
    this.log.warn({ kind: err.kind, id: err.id, reason: err.message }, 'skipping a stored row that does not validate');
  }
}
