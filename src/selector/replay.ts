import type { Program } from './program.js';
import type { Programs } from './programs.js';
import type { SelectorFailure } from './types.js';

/**
 * Restores a slot's versions on the host that replaces a dead one (the warm spare): every loaded,
 * unquarantined version is compiled again and given its live catalogs, before the requests resent
 * to it. A version that fails to reload there fails its calls (and is quarantined at once: its top
 * level loaded before, so the failure is its doing).
 */
export function replaySlot(
  programs: Programs,
  slot: number,
  sendLoad: (
    program: Program,
    dataset: Parameters<Programs['release']>[0] | null,
    done: (failure: SelectorFailure | null) => void,
  ) => void,
  lost: (program: Program, failure: SelectorFailure) => void,
): void {
  for (const program of programs.inSlot(slot)) {
    if (program.state !== 'ready' || program.health.quarantined) continue;
    const done = (failure: SelectorFailure | null) => {
      if (failure === null || program.health.quarantined) return;
      lost(program, { ...failure, message: `reloading after a sandbox restart failed: ${failure.message}` });
    };
    sendLoad(program, null, done);
    for (const dataset of program.datasets) {
      if (dataset.state === 'ready' && !dataset.released) sendLoad(program, dataset, done);
    }
  }
}
