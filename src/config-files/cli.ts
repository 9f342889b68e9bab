import { closeSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import pino from 'pino';
import { ZodError } from 'zod';
import { zodDetails } from '../admin/errors.js';
import { OptionsError, parseOptions } from '../config/options.js';
import { selectorBudgetOf } from '../config/selector-budget.js';
import type { Actor } from '../model/token.js';
import {
  StoreNotFoundError,
  StoreOutcomeUnknownError,
  StoreRefusedError,
  StoreSchemaVersionError,
} from '../store/errors.js';
import { openExistingStore, openStore } from '../store/open.js';
import { withWriteScope } from '../store/write-scope.js';
import {
  applyConfigFile,
  ConfigChangedError,
  confirmShown,
  diffLines,
  parseConfigFile,
  previewConfigFile,
} from './apply.js';
import {
  CONFIG_FILE_MAX_BYTES,
  ConfigCutShortError,
  ConfigSyntaxError,
  configFileSchema,
  decodeConfigBytes,
  exportConfig,
  formatConfig,
  parseConfigText,
} from './format.js';

/** Where the command writes; the tests pass their own. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Reads FILE, or standard input for `-`. */
  read(file: string): string;
}

const processIo: CommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  read: (file) => decodeConfigBytes(readBounded(file)),
};

/**
 * FILE's bytes, or standard input's for `-`, read no further than one byte past the size limit: a
 * FIFO, an endless pipe or a device is refused rather than read until memory runs out.
 */
function readBounded(file: string): Buffer {
  const fd = file === '-' ? 0 : openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return Buffer.concat(chunks, size);
      chunks.push(chunk.subarray(0, n));
      size += n;
      if (size > CONFIG_FILE_MAX_BYTES) return Buffer.concat(chunks, size); // refused by decodeConfigBytes
    }
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

/**
 * Writes an export to FILE through a new file renamed over it: FILE never holds half an export, and
 * an export with secrets is readable by its owner only even when FILE existed with wider rights.
 */
function writeExport(file: string, text: string, secrets: boolean): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text, { mode: secrets ? 0o600 : 0o644, flag: 'wx' });
    renameSync(temporary, file);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

/** Usage of `isogate config`. */
export const CONFIG_USAGE = [
  'Usage: isogate config export [--format yaml|json] [--secrets] [--output FILE] [store options]',
  '       isogate config apply FILE [--dry-run] [store options]     (FILE - reads standard input)',
  '       isogate config schema                                      (the file format as JSON Schema)',
  '',
  'Store options, as for the other commands: --store URL, --data-dir DIR, --store-timeout-ms N.',
  'apply refuses a file whose selectors would not all run in a gateway process: --selector-max-programs N',
  'and --selector-memory-mb N (or their ISOGATE_ variables) as the gateways have them.',
  'apply makes the stored config equal to the file (creates, updates, deletes) in one transaction,',
  'after printing what it changes; --dry-run prints it and writes nothing.',
  'export and --dry-run only read: they refuse a store that does not exist (nothing is created) or',
  'whose schema is of another isogate version (they never migrate; starting isogate does).',
  'export leaves secrets (private keys, credential hashes) out unless --secrets; apply keeps the',
  'stored secret of an entry that has none.',
].join('\n');

/** The audit log's actor for writes made from the command line. */
function cliActor(): Actor {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid)
  }
  return { id: 'cli', name: `cli (${user}@${hostname()})`, role: 'admin' };
}

/** Process options `config` takes, as the other commands do: where the store is, and the selector budget. */
const OPTION_FLAGS: ReadonlySet<string> = new Set([
  '--store',
  '--data-dir',
  '--store-timeout-ms',
  '--log-level',
  '--selector-max-programs',
  '--selector-memory-mb',
]);

interface Parsed {
  sub: string | undefined;
  file: string | undefined;
  format: 'yaml' | 'json';
  secrets: boolean;
  output: string | undefined;
  dryRun: boolean;
  storeFlags: string[];
}

function parseArgs(argv: readonly string[]): Parsed {
  const [sub, ...rest] = argv;
  const parsed: Parsed = {
    sub,
    file: undefined,
    format: 'yaml',
    secrets: false,
    output: undefined,
    dryRun: false,
    storeFlags: [],
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = () =>
      inline ??
      rest[++i] ??
      (() => {
        throw new OptionsError(`${flag} needs a value`);
      })();
    if (flag === '--format') {
      const f = value();
      if (f !== 'yaml' && f !== 'json') throw new OptionsError('--format: must be yaml or json');
      parsed.format = f;
    } else if (flag === '--secrets') parsed.secrets = true;
    else if (flag === '--output' || flag === '-o') parsed.output = value();
    else if (flag === '--dry-run') parsed.dryRun = true;
    else if (OPTION_FLAGS.has(flag)) parsed.storeFlags.push(flag, value());
    else if (!arg.startsWith('--') && parsed.file === undefined) parsed.file = arg;
    else throw new OptionsError(`unknown option ${arg} (see isogate config --help)`);
  }
  return parsed;
}

/** `isogate config …`; resolves with the exit code. */
export async function runConfigCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CommandIo = processIo,
): Promise<number> {
  let args: Parsed;
  try {
    args = parseArgs(argv);
    if (args.sub === undefined || args.sub === '--help' || args.sub === '-h' || argv.includes('--help')) {
      io.out(CONFIG_USAGE + '\n');
      return args.sub === undefined ? 1 : 0;
    }
    if (args.sub === 'schema') {
      io.out(JSON.stringify(configFileSchema(), null, 2) + '\n');
      return 0;
    }
    if (args.sub !== 'export' && args.sub !== 'apply')
      throw new OptionsError(`unknown config command ${args.sub}\n${CONFIG_USAGE}`);
    if (args.sub === 'apply' && args.file === undefined) throw new OptionsError('apply needs the FILE to apply');
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    io.err(`isogate config: ${err.message}\n`);
    return 1;
  }

  let file;
  if (args.sub === 'apply') {
    try {
      file = parseConfigFile(parseConfigText(io.read(args.file!)));
    } catch (err) {
      if (err instanceof ConfigCutShortError) {
        io.err(`isogate config: ${args.file} was cut short; nothing was applied: ${err.message}\n`);
      } else if (err instanceof ConfigSyntaxError) {
        io.err(
          `isogate config: ${args.file} is not YAML or JSON${err.line === undefined ? '' : ` (line ${err.line}, column ${err.column})`}: ${err.message}\n`,
        );
      } else if (err instanceof ZodError) {
        io.err(
          `isogate config: ${args.file} is not a valid config file; nothing was applied:\n${zodDetails(err)
            .map((d) => `  ${d.path || '(top)'}: ${d.message}\n`)
            .join('')}`,
        );
      } else {
        io.err(`isogate config: cannot read ${args.file}: ${(err as Error).message}\n`);
      }
      return 1;
    }
  }

  let options;
  try {
    options = parseOptions(args.storeFlags, env);
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    io.err(`isogate config: ${err.message}\n`);
    return 1;
  }
  const log = pino({ level: options.logLevel === 'info' ? 'warn' : options.logLevel }, pino.destination(2));
  let store;
  try {
    // An export and a dry run only read: they open a store that exists, as it is (never created or
    // migrated), so a typo in --store fails instead of exporting an empty config from a new store.
    store =
      args.sub === 'export' || args.dryRun
        ? await openExistingStore(options.store, options.dataDir, log, options.storeTimeoutMs, args.sub === 'export')
        : await openStore(options.store, options.dataDir, log, options.storeTimeoutMs);
  } catch (err) {
    if (err instanceof StoreNotFoundError || err instanceof StoreSchemaVersionError)
      io.err(`isogate config: ${err.message}\n`);
    else io.err(`isogate config: cannot open the store (${(err as Error).message})\n`);
    return 1;
  }
  try {
    if (args.sub === 'export') {
      const text = formatConfig(exportConfig(await store.loadConfig(), { secrets: args.secrets }), args.format);
      if (args.output) writeExport(args.output, text, args.secrets);
      else io.out(text);
      return 0;
    }
    // Held to the selector budget of the gateways, inside the apply's transaction.
    const scope = { actor: cliActor(), selectorBudget: selectorBudgetOf(options) };
    const changes = await previewConfigFile(store, file!, scope);
    for (const line of diffLines(changes)) io.out(line + '\n');
    if (changes.length === 0) {
      io.out('The stored config already matches the file; nothing to apply.\n');
      return 0;
    }
    if (args.dryRun) {
      io.out(`${changes.length} ${changes.length === 1 ? 'change' : 'changes'} (dry run: nothing was written).\n`);
      return 0;
    }
    // It applies what it showed: the write is refused if its changes are not the diff above.
    const result = await withWriteScope({ ...scope, confirm: confirmShown(changes) }, () =>
      applyConfigFile(store, file!),
    );
    if (result.changes.length === 0) {
      io.out('Another writer made these changes meanwhile: the stored config already matches the file.\n');
      return 0;
    }
    io.out(
      `Applied ${result.changes.length} ${result.changes.length === 1 ? 'change' : 'changes'} in one transaction: config version ${result.version}.\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof ConfigChangedError) {
      io.err(`isogate config: ${err.message}; run the command again to see the new diff\n`);
      return 1;
    }
    // A problem only the stored config shows (an entry whose names are not its certificate's).
    if (err instanceof ZodError) {
      io.err(
        `isogate config: ${args.file} does not fit the stored config; nothing was applied:\n${zodDetails(err)
          .map((d) => `  ${d.path}: ${d.message}\n`)
          .join('')}`,
      );
      return 1;
    }
    if (err instanceof StoreRefusedError && err.code === 'SELECTOR_BUDGET_EXCEEDED') {
      io.err(`isogate config: ${args.file ?? ''} was not applied (${err.code}): ${err.message}\n`);
      return 1;
    }
    const outcome =
      err instanceof StoreOutcomeUnknownError
        ? 'it may or may not have been saved (export to check)'
        : 'nothing was written';
    io.err(`isogate config: ${args.sub} failed; ${outcome}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}
