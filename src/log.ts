import pino, { type Logger } from 'pino';

/** The process logger: JSON lines on stdout, buffered (flushed on exit) so the access log stays cheap. */
export function createLogger(level: string): { log: Logger; flush: () => void } {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const log = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  return {
    log,
    flush: () => {
      try {
        destination.flushSync();
      } catch {
        // nothing buffered, or stdout is gone
      }
    },
  };
}
