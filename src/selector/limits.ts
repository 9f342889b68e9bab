/**
 * A selector's limit is CPU time, but isolated-vm can only interrupt a script by wall-clock time.
 * Calls run under this longer wall-clock limit so that a script descheduled on a busy machine is
 * not cut off for time it did not use, while a runaway script is still stopped soon after its limit
 * (and is then blamed only if it used its CPU limit).
 */
export function wallTimeoutMs(cpuTimeoutMs: number): number {
  return cpuTimeoutMs * WALL_FACTOR + WALL_SLACK_MS;
}

/** Wall-clock allowance per millisecond of CPU limit. */
const WALL_FACTOR = 2;
/** Wall-clock allowance on top, for short limits. */
const WALL_SLACK_MS = 20;
