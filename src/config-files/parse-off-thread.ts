import { Worker } from 'node:worker_threads';
import { resolveThreadEntry } from '../paths.js';
import { ConfigCutShortError, ConfigSyntaxError, parseConfigText } from './format.js';
import type { ParseOutcome } from './parse-worker.js';

/** Texts up to this size are parsed in place: a few milliseconds, less than starting a thread. */
export const INLINE_PARSE_MAX_BYTES = 64 * 1024;
/** Parses running in threads at once, per process; one more is refused (ConfigParseBusyError). */
export const PARSES_AT_ONCE = 2;
/** Longest a thread may parse (a 16 MiB file takes about 25 s on a 2-core machine); then it is ended. */
export const PARSE_TIMEOUT_MS = 120_000;
/** The heap a parse thread may use; past it the thread ends and the text is refused. */
const PARSE_HEAP_MB = 1024;

/** Every parse thread is busy: the caller may try again shortly. */
export class ConfigParseBusyError extends Error {
  override readonly name = 'ConfigParseBusyError';
}

let running = 0;

/**
 * parseConfigText off the event loop. The yaml package parses about 1 MB a second, so a large file
 * applied through the admin API blocked its process for many seconds, and with it `/status` and
 * `/metrics` when they share it (the primary of `isogate start`); a thread parses it instead, bounded
 * in number, time and heap. Throws ConfigSyntaxError (or ConfigCutShortError) as parseConfigText does.
 */
export async function parseConfigTextOffThread(text: string): Promise<unknown> {
  if (Buffer.byteLength(text, 'utf8') <= INLINE_PARSE_MAX_BYTES) return parseConfigText(text);
  if (running >= PARSES_AT_ONCE)
    throw new ConfigParseBusyError(`${PARSES_AT_ONCE} config files are being parsed already`);
  running++;
  try {
    return fromOutcome(await inThread(text));
  } finally {
    running--;
  }
}

function inThread(text: string): Promise<ParseOutcome> {
  const entry = resolveThreadEntry(import.meta.url, 'parse-worker');
  const worker = new Worker(entry.filename, {
    eval: entry.eval,
    workerData: { text },
    resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MB },
    stdout: true,
    stderr: true,
  });
  return new Promise<ParseOutcome>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve(refused(`the file took longer than ${PARSE_TIMEOUT_MS / 1000} s to parse`));
    }, PARSE_TIMEOUT_MS);
    worker.once('message', (message: ParseOutcome) => {
      clearTimeout(timer);
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY')
        resolve(refused(`parsing the file took more than ${PARSE_HEAP_MB} MB of memory`));
      else reject(err);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the config parse thread exited (${code}) without an answer`));
    });
  });
}

function refused(message: string): ParseOutcome {
  return { ok: false, cutShort: false, message, line: undefined, column: undefined };
}

function fromOutcome(outcome: ParseOutcome): unknown {
  if (outcome.ok) return outcome.value;
  const Kind = outcome.cutShort ? ConfigCutShortError : ConfigSyntaxError;
  throw new Kind(outcome.message, outcome.line, outcome.column);
}
