import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { SelectorConfig } from '../../src/model/selector.js';
import { SelectorSandbox, type SandboxOptions } from '../../src/selector/sandbox.js';
import type { SelectorNode, SelectorRequest } from '../../src/selector/types.js';

/** A pino logger whose records land in `records`. */
export function captureLogger(): { logger: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}

/** Starts a sandbox that logs into memory. */
export async function startSandbox(options: Partial<SandboxOptions> = {}) {
  const { logger, records } = captureLogger();
  const sandbox = await SelectorSandbox.start({ logger, ...options });
  return { sandbox, records };
}

/** A node of the catalog; `tags` marks canaries (`temp`) and client types. */
export function node(id: string, tags: string[] = []): SelectorNode {
  return { id, name: `node ${id}`, url: `http://127.0.0.1:1/${id}`, weight: 1, tags };
}

/** A sample request; fields not given take neutral values. */
export function request(fields: Partial<SelectorRequest> = {}): SelectorRequest {
  return { method: 'GET', path: '/', query: {}, headers: {}, body: null, clientIp: '127.0.0.1', ...fields };
}

/** A selector config with the defaults the API schema applies. */
export function config(code: string, limits: Partial<Omit<SelectorConfig, 'code'>> = {}): SelectorConfig {
  return { code, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: false, ...limits };
}

const examplesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts-examples');

/** The source of one file of scripts-examples/. */
export function example(name: string): string {
  return readFileSync(join(examplesDir, name), 'utf8');
}

/** The canary selector from DESIGN.md. */
export const CANARY = example('canary-by-query.js');
