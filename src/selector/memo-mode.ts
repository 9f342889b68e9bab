import type { SelectorConfig } from '../model/selector.js';
import type { MemoMode } from './isolate/runner.js';
import { analyzeState, describeVerdict, type StateVerdict } from './state-analysis.js';

/** State-analysis verdicts remembered by code (one per distinct script). */
const VERDICTS_KEPT = 256;

/**
 * How each selector is memoized: `false` off; `true` trusted (recorded and checked where the realm
 * can); "auto" checked, unless the static pre-filter already found state (then off, with its line).
 * The pre-filter's verdicts are remembered per script.
 */
export class MemoModes {
  private readonly verdicts = new Map<string, StateVerdict>();

  /** `preFilter` false: only the realm's own record and checks decide (the guarantee rests on them). */
  constructor(private readonly preFilter: boolean) {}

  /** The realm's mode for `config`, and why "auto" is off when the pre-filter refused it (else null). */
  of(config: SelectorConfig): { memo: MemoMode; refused: string | null } {
    if (config.memoize === false) return { memo: 'off', refused: null };
    if (config.memoize === true) return { memo: 'trusted', refused: null };
    if (!this.preFilter) return { memo: 'checked', refused: null };
    const verdict = this.verdictOf(config.code);
    return verdict.stateless ? { memo: 'checked', refused: null } : { memo: 'off', refused: describeVerdict(verdict) };
  }

  private verdictOf(code: string): StateVerdict {
    let verdict = this.verdicts.get(code);
    if (verdict === undefined) {
      verdict = analyzeState(code);
      if (this.verdicts.size >= VERDICTS_KEPT) this.verdicts.clear();
      this.verdicts.set(code, verdict);
    }
    return verdict;
  }
}
