#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIsogate, StartupError, type Isogate } from './app.js';
import { runConfigCommand } from './config-files/cli.js';
import { OptionsError, parseOptions, usage, type Options } from './config/options.js';
import { createLogger } from './log.js';
import { packageRoot } from './paths.js';
import { LOG_CLOSE_MS, stopOnce } from './runtime/shutdown.js';
import { ignoreStraySignals } from './runtime/signals.js';

/** `isogate <version>` from package.json. */
function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** What the start line adds about the demo: that changes to it persist, and how to undo them. */
function demoNote(app: Isogate, options: Options): string | null {
  const where = options.store === '' ? join(options.dataDir, 'isogate.db') : 'the store';
  const undo = '--reset-demo (npm start -- --reset-demo) puts the demo back as first seeded';
  if (app.demo === 'seeded')
    return `seeded the demo APIs demo and demo-sticky; what you change is kept in ${where}, and ${undo}`;
  if (app.demo === 'kept') return `the config is as you left it, demo changes included (kept in ${where}); ${undo}`;
  if (app.demo === 'reset')
    return 'the demo APIs demo and demo-sticky and the variables IP1_enable and IP2_enable are back as first seeded';
  return null;
}

/** `isogate start|gateway|admin [options]`: runs that role until SIGTERM/SIGINT; `isogate config …` works on config files. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`isogate ${version()}\n`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage() + '\n');
    return command === undefined ? 1 : 0;
  }
  if (command === 'config') return runConfigCommand(rest, process.env);
  if (command !== 'start' && command !== 'gateway' && command !== 'admin') {
    process.stderr.write(`isogate: unknown command ${command}\n${usage()}\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  let options;
  try {
    options = parseOptions(rest, process.env);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`isogate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const logger = createLogger(options.logLevel);
  const { log } = logger;
  // From here on a SIGHUP, SIGUSR1 or SIGUSR2 is logged and ignored (primary and `--workers 0` alike).
  ignoreStraySignals(log);
  let app;
  try {
    app = await startIsogate(options, log, process.env, command);
  } catch (err) {
    await logger.close(LOG_CLOSE_MS);
    if (err instanceof StartupError) {
      process.stderr.write(`isogate: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`isogate: failed to start: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
  if (app.adminTokenGenerated) {
    process.stderr.write(
      `isogate: generated the admin token (shown once; also in ${options.dataDir}/admin-token): ${app.adminToken}\n`,
    );
  }
  const where = [
    app.gateway &&
      `gateway http://${app.gateway.address}:${app.gateway.port}${app.workers ? ` (${options.workers} worker${options.workers === 1 ? '' : 's'})` : ''}`,
    app.gatewayTls && `https://${app.gatewayTls.address}:${app.gatewayTls.port}`,
    app.admin && `admin http://${app.admin.address}:${app.admin.port}`,
    app.status && `status http://${app.status.address}:${app.status.port}/status`,
  ];
  process.stderr.write(`isogate ${command}: ${where.filter(Boolean).join('  ')}\n`);
  const note = demoNote(app, options);
  if (note) process.stderr.write(`isogate ${command}: ${note}\n`);
  const running = app;
  return new Promise<number>((resolve) => {
    // A stop always ends: a second signal, or the drain bounds passing, ends it at once.
    const stop = stopOnce({
      log,
      stop: () => running.close(),
      boundMs: options.drainWaitMs + options.drainMs,
      unfinished: () => running.unfinished(),
      cut: () => running.workers?.kill(),
      exit: (code) => void logger.close(LOG_CLOSE_MS).then(() => resolve(code)),
    });
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * Exits once what was written to stdout and stderr is out: into a pipe the writes are asynchronous,
 * and `process.exit` right after a large one (an export piped to another command) would cut it. A
 * one-shot command (`config`) waits for its reader however slow; a served role waits LOG_CLOSE_MS at
 * most, so a reader that reads nothing does not keep a stopped gateway alive.
 */
function exitAfterOutput(code: number, oneShot: boolean): void {
  if (!oneShot) setTimeout(() => process.exit(code), LOG_CLOSE_MS);
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(
  (code) => exitAfterOutput(code, process.argv[2] === 'config'),
  (err) => {
    process.stderr.write(`isogate: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
