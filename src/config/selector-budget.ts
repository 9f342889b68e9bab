import { totalmem } from 'node:os';
import type { SelectorBudget } from '../model/selector-budget.js';
import type { Options } from './options.js';

/**
 * Share of the machine's memory that the selectors of all gateway processes together may be given
 * by default: each program's heap can grow to its `memoryMb` (a program that fills it measured at
 * about its limit plus 2 MB of resident memory), and the rest is left to the gateway processes,
 * their sandbox processes' own baseline (about 53 MB each) and the system.
 */
export const SELECTOR_MEMORY_SHARE = 0.5;
/** The derived default never goes below this (MB): one selector of the default 32 MB fits. */
const MIN_DERIVED_MB = 32;

/** The machine's memory in MB: the system's, or the cgroup's limit when it is lower (a container). */
export function machineMemoryMb(): number {
  let bytes = totalmem();
  const constrained = process.constrainedMemory?.();
  if (constrained !== undefined && constrained > 0 && constrained < bytes) bytes = constrained;
  return Math.floor(bytes / (1024 * 1024));
}

/**
 * The selector budget of one gateway process from the options: `--selector-max-programs`, and
 * `--selector-memory-mb` or, when that is 0, SELECTOR_MEMORY_SHARE of the machine's memory divided
 * among its gateway processes (`--workers`, 1 when the gateway serves in the main process), which
 * refuses saves but leaves no stored selector out (`memoryDerived`).
 */
export function selectorBudgetOf(
  options: Pick<Options, 'selectorMaxPrograms' | 'selectorMemoryMb' | 'workers'>,
  memoryMb: number = machineMemoryMb(),
): SelectorBudget {
  const derived = Math.max(
    MIN_DERIVED_MB,
    Math.floor((memoryMb * SELECTOR_MEMORY_SHARE) / Math.max(1, options.workers)),
  );
  if (options.selectorMemoryMb > 0)
    return { programs: options.selectorMaxPrograms, memoryMb: options.selectorMemoryMb };
  return { programs: options.selectorMaxPrograms, memoryMb: derived, memoryDerived: true };
}
