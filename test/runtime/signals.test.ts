/**
 * A stray SIGHUP, SIGUSR1 or SIGUSR2 neither ends a process that installed the guards nor opens an
 * inspector in it (a real child process running the built module).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/processes.js';

const MODULE = pathToFileURL(join(import.meta.dirname, '../../dist/src/runtime/signals.js')).href;

// The child logs through a stand-in logger, and answers `?` on stdin with the inspector's URL.
const CHILD = `
import inspector from 'node:inspector';
const { ignoreStraySignals } = await import(${JSON.stringify(MODULE)});
const log = { warn: (o, m) => process.stdout.write(JSON.stringify({ ...o, msg: m }) + '\\n') };
ignoreStraySignals(log);
process.stdin.on('data', () => process.stdout.write('url=' + String(inspector.url()) + '\\n'));
process.stdout.write('up\\n');
setTimeout(() => process.exit(0), 20000).unref();
setInterval(() => {}, 1000);
`;

describe('ignoreStraySignals', () => {
  it('logs SIGHUP, SIGUSR2 and SIGUSR1, stays up, and opens no inspector', async () => {
    const child = spawn(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', CHILD], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await until(
        async () => out,
        (o) => o.includes('up\n'),
        100,
        50,
      );
      for (const signal of ['SIGHUP', 'SIGUSR2', 'SIGUSR1'] as const) child.kill(signal);
      await until(
        async () => out,
        (o) => o.includes('"signal":"SIGUSR1"') && o.includes('"signal":"SIGHUP"') && o.includes('"signal":"SIGUSR2"'),
        100,
        50,
      );
      await new Promise((r) => setTimeout(r, 600));
      child.stdin.write('?\n');
      const answer = await until(
        async () => out,
        (o) => o.includes('url='),
        100,
        50,
      );
      expect(answer).toContain('url=undefined');
      expect(child.exitCode).toBeNull();
      expect(child.signalCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
