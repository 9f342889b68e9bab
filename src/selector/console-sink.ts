import type { Logger } from 'pino';
import type { Program } from './program.js';
import { LineBudget } from './rate-limit.js';
import { steadyNow } from '../runtime/clock.js';

/**
 * Where serving selectors' console.log lines go: the gateway log, at most `rate` lines a second per
 * API (over all its versions and hosts); the lines past it, and those the host dropped, are counted
 * on the version (`status.consoleDropped`).
 */
export class ConsoleSink {
  private readonly budgets = new Map<string, LineBudget>();

  constructor(
    private readonly logger: Logger,
    private readonly rate: number,
  ) {}

  /** Logs what a host sent for `program` within the API's rate; counts the rest. */
  lines(program: Program, dropped: number, lines: readonly string[]): void {
    let budget = this.budgets.get(program.apiId);
    if (!budget) this.budgets.set(program.apiId, (budget = new LineBudget(this.rate)));
    const now = steadyNow();
    let lost = dropped;
    for (const line of lines) {
      if (budget.take(now)) this.logger.info({ apiId: program.apiId, line }, 'selector console');
      else lost++;
    }
    program.health.consoleDropped += lost;
  }
}
