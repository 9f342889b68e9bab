import { readFileSync } from 'node:fs';
import { runConfigCommand, type CommandIo } from '../../src/config-files/cli.js';

/**
 * Runs `isogate config …` in this process (`-` reads `stdin`); returns its exit code and what it
 * printed. `onOut` hears each piece of output as it is printed (a test may act between two of them).
 */
export async function configCli(
  args: string[],
  stdin = '',
  onOut: (text: string) => void = () => undefined,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CommandIo = {
    out: (t) => {
      out += t;
      onOut(t);
    },
    err: (t) => (err += t),
    read: (f) => (f === '-' ? stdin : readFileSync(f, 'utf8')),
  };
  const code = await runConfigCommand(args, {}, io);
  return { code, out, err };
}
