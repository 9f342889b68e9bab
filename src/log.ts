import pino, { type Logger } from 'pino';

/** Buffered lines go out at least this often: a quiet gateway's lines show within this time. */
export const LOG_FLUSH_MS = 150;
/** Buffered lines go out at once past this many characters. */
const FLUSH_CHARS = 64 * 1024;
/** Past this many characters waiting (the output does not take them), new lines are dropped and counted. */
const MAX_BUFFERED_CHARS = 8 * 1024 * 1024;

/** The process logger and its output's controls. */
export interface ProcessLogger {
  log: Logger;
  /** Hands what is buffered to the output now (never waits for it). */
  flush(): void;
  /** Hands what is buffered to the output and waits until it took it, at most `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Where the log's lines go: kept in memory and handed to the output stream in one write every
 * LOG_FLUSH_MS (or at FLUSH_CHARS), never a write per line, and never in a way that can block the
 * process. pino's own destination (sonic-boom) retries a write that the output does not take
 * (EAGAIN: a full pipe whose reader stopped reading, or died while another process holds the pipe)
 * in a loop of Atomics.wait sleeps in `flushSync`, which it runs on exit: a gateway whose log reader
 * went away could then not be stopped but by SIGKILL. Here a write the output has not taken yet
 * holds back the next one, lines pile up to MAX_BUFFERED_CHARS and are then dropped (and counted, in
 * a line of their own once the output takes lines again), and an output that failed (EPIPE: no
 * reader any more) is given up.
 */
export class LogOutput {
  private lines: string[] = [];
  private chars = 0;
  private dropped = 0;
  /** A write the output has not finished yet. */
  private writing = false;
  /** The output failed (its reader is gone): lines are discarded from now on. */
  private dead = false;
  private readonly waiters = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly written = (err?: Error | null): void => {
    this.writing = false;
    if (err) {
      this.die();
      return;
    }
    if (this.closing || this.chars >= FLUSH_CHARS) this.flush();
    if (!this.writing) this.wake();
  };
  /** `close` was called: every finished write hands over the next lines at once. */
  private closing = false;

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    out.on('error', () => this.die());
    this.timer = setInterval(() => this.flush(), LOG_FLUSH_MS);
    this.timer.unref();
  }

  /** pino's destination interface: takes one line (or the access log's batch of lines). */
  write(text: string): boolean {
    if (this.dead) return true;
    if (this.chars + text.length > MAX_BUFFERED_CHARS) {
      this.dropped++;
      return true;
    }
    this.lines.push(text);
    this.chars += text.length;
    if (this.chars >= FLUSH_CHARS) this.flush();
    return true;
  }

  /** Hands the buffered lines to the output, unless it has not taken the last ones yet. */
  flush(): void {
    if (this.dead || this.writing || this.lines.length === 0) return;
    let text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    if (this.dropped > 0) {
      text = `{"level":40,"time":"${new Date().toISOString()}","pid":${process.pid},"msg":"the log output did not take lines fast enough; dropped ${this.dropped}"}\n${text}`;
      this.dropped = 0;
    }
    this.lines = [];
    this.chars = 0;
    this.writing = true;
    try {
      this.out.write(text, this.written);
    } catch {
      this.die();
    }
  }

  /** Flushes and resolves once the output took everything (or failed), at most after `timeoutMs`. */
  close(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    this.closing = true;
    this.flush();
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private die(): void {
    this.dead = true;
    this.writing = false;
    this.lines = [];
    this.chars = 0;
    this.wake();
  }
}

/** The process logger: JSON lines on stdout through a LogOutput (timed flush, never blocking). */
export function createLogger(level: string, out: NodeJS.WritableStream = process.stdout): ProcessLogger {
  // A closed stderr must not crash the process either (the CLI writes its start line there).
  if (out === process.stdout) process.stderr.on('error', () => {});
  const output = new LogOutput(out);
  const log = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, output);
  // A crash (process.exit from anywhere) still hands over what is buffered: a write the output
  // takes at once leaves before the process is gone.
  process.once('exit', () => output.flush());
  return {
    log,
    flush: () => output.flush(),
    close: (timeoutMs = 2_000) => output.close(timeoutMs),
  };
}
