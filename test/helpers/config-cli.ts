import { readFileSync } from 'node:fs';
import { runConfigCommand, type CommandIo } from '../../src/config-files/cli.js';

/** Runs `isogate config …` in this process (`-` reads `stdin`); returns its exit code and what it printed. */
export async function configCli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CommandIo = {
    out: (t) => (out += t),
    err: (t) => (err += t),
    read: (f) => (f === '-' ? stdin : readFileSync(f, 'utf8')),
  };
  const code = await runConfigCommand(args, {}, io);
  return { code, out, err };
}
