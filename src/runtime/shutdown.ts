import type { Logger } from 'pino';

/** How long after the graceful stop's own bound (drain wait + drain) the process exits regardless. */
export const STOP_GRACE_MS = 5_000;
/** The longest wait for the log output to take the last lines before the process exits. */
export const LOG_CLOSE_MS = 2_000;

/** What a stop needs: the graceful part, its bound, and how to report and end a stop cut short. */
export interface StopOptions {
  log: Logger;
  /** The graceful stop: drain and close everything. */
  stop: () => Promise<void>;
  /** The graceful stop's own bound (drain wait + drain, ms); the process exits STOP_GRACE_MS after it regardless. */
  boundMs: number;
  /** What a stop cut short leaves unfinished (open connections, requests in progress, workers), for its log line. */
  unfinished: () => Record<string, unknown>;
  /** Runs at once when the stop is cut short (e.g. tells the workers to stop at once too). */
  cut?: () => void;
  /** Flushes the log (bounded) and ends the process with `code`. */
  exit: (code: number) => void;
}

/**
 * A stop that always ends: the first request (a signal, the primary gone) starts the graceful stop;
 * a second request, or the bound passing, ends the process at once, saying in the log what it cut.
 * Returns the function that requests a stop.
 */
export function stopOnce(options: StopOptions): (reason: string) => void {
  let requested = false;
  let ended = false;
  const end = (code: number) => {
    if (ended) return;
    ended = true;
    options.exit(code);
  };
  const cut = (why: string, reason: string) => {
    options.cut?.();
    options.log.warn({ reason, ...options.unfinished() }, `${why}: stopping at once, cutting what is left`);
    end(1);
  };
  return (reason) => {
    if (requested) {
      cut('a second stop request', reason);
      return;
    }
    requested = true;
    options.log.info({ reason }, 'stopping: draining in-flight requests');
    const deadline = setTimeout(
      () => cut(`the stop did not finish within ${options.boundMs + STOP_GRACE_MS} ms`, reason),
      options.boundMs + STOP_GRACE_MS,
    );
    options.stop().then(
      () => {
        clearTimeout(deadline);
        options.log.info('stopped');
        end(0);
      },
      (err: unknown) => {
        clearTimeout(deadline);
        options.log.error({ err }, 'stop failed');
        end(1);
      },
    );
  };
}
