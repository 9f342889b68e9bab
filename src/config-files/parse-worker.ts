// A worker thread's entry: parses one config file's text off the admin process's event loop
// (src/config-files/parse-off-thread.ts) and posts back the value, or the syntax error as data.
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigCutShortError, ConfigSyntaxError, parseConfigText } from './format.js';

/** What the thread posts back: the parsed value, or why the text is no config file. */
export type ParseOutcome =
  | { ok: true; value: unknown }
  | { ok: false; cutShort: boolean; message: string; line: number | undefined; column: number | undefined };

function outcome(text: string): ParseOutcome {
  try {
    return { ok: true, value: parseConfigText(text) };
  } catch (err) {
    if (!(err instanceof ConfigSyntaxError)) throw err;
    const cutShort = err instanceof ConfigCutShortError;
    return { ok: false, cutShort, message: err.message, line: err.line, column: err.column };
  }
}

parentPort?.postMessage(outcome((workerData as { text: string }).text));
