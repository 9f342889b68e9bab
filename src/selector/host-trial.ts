/** Admin trials in the sandbox host (host.ts): a fresh isolate per trial, nothing kept between them. */
import { IsolateRunner, type ConsoleOutput } from './isolate/runner.js';
import { capConsole, validPositions } from './host-limits.js';
import type { SelectorConfig } from '../model/selector.js';
import type { SelectorNode, SelectorRequest, TrialResult } from './types.js';

/** What a T request carries. */
export interface TrialPayload {
  config: Pick<SelectorConfig, 'code' | 'timeoutMs' | 'memoryMb'>;
  request: SelectorRequest;
  env: Record<string, string>;
  nodes: SelectorNode[];
}

function consoleLines(raw: ConsoleOutput | null, into: string[]): void {
  if (raw === null) return;
  const output = capConsole(raw);
  into.push(...output.lines);
  if (output.dropped > 0) into.push(`… ${output.dropped} more console lines dropped`);
}

/** Compiles fresh, runs once, disposes; nothing is kept between trials. */
export function trial(payload: TrialPayload): TrialResult {
  const { config, request, env, nodes } = payload;
  const printed: string[] = [];
  // The realm is the same whether a selector is memoized or not, so a trial runs it plainly.
  const runner = new IsolateRunner(config.code, config.timeoutMs, config.memoryMb);
  try {
    const started = runner.start();
    consoleLines(started.console, printed);
    if (started.failure !== null)
      return { ok: false, picked: [], error: started.failure, durationUs: 0, console: printed };
    const loadFailure = runner.loadDataset(0, JSON.stringify(nodes), JSON.stringify(env));
    if (loadFailure !== null) return { ok: false, picked: [], error: loadFailure, durationUs: 0, console: printed };
    const result = runner.call(0, nodes.map((_, i) => i).join(','), JSON.stringify(request));
    consoleLines(result.console, printed);
    if (!result.ok) return { ok: false, picked: [], error: result.failure, durationUs: result.runUs, console: printed };
    if (!validPositions(result.positions, nodes.length)) {
      return {
        ok: false,
        picked: [],
        error: { kind: 'bad-result', message: 'the sandbox returned an invalid node position' },
        durationUs: result.runUs,
        console: printed,
      };
    }
    const picked = result.positions === '' ? [] : result.positions.split(',').map((p) => nodes[Number(p)]!.id);
    return { ok: true, picked, durationUs: result.runUs, console: printed };
  } finally {
    runner.dispose();
  }
}
