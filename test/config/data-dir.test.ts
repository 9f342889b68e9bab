import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareDataDir } from '../../src/config/data-dir.js';
import { StartupError } from '../../src/runtime/listen.js';
import { tempDir } from '../store/fixtures.js';

// The data dir is made usable or refused at once, naming --data-dir; it never hangs.
const dirs: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});
const temp = () => {
  const d = tempDir('isogate-datadir-');
  dirs.push(d);
  return d.dir;
};

function refusal(path: string): StartupError {
  try {
    prepareDataDir(path);
  } catch (err) {
    expect(err).toBeInstanceOf(StartupError);
    return err as StartupError;
  }
  throw new Error(`${path} was accepted`);
}

describe('prepareDataDir', () => {
  it('creates missing folders, several levels deep, and leaves no probe file behind', () => {
    const root = temp();
    const dir = prepareDataDir(join(root, 'a', 'b', 'c'));
    expect(dir).toBe(join(root, 'a', 'b', 'c'));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('accepts an existing empty or used folder as it is', () => {
    const root = temp();
    writeFileSync(join(root, 'isogate.db'), '');
    expect(prepareDataDir(root)).toBe(root);
    expect(readdirSync(root)).toEqual(['isogate.db']);
  });

  it('a folder under /proc (where recursive mkdir never returns) is refused at once, naming --data-dir', () => {
    const err = refusal('/proc/isogate-data/deeper');
    expect(err.flag).toBe('--data-dir');
    expect(err.message).toMatch(
      /^--data-dir: \/proc\/isogate-data\/deeper cannot be used as the data directory: cannot create \/proc\/isogate-data \(E[A-Z]+\)$/,
    );
  });

  it('/proc itself exists but takes no files: refused', () => {
    expect(refusal('/proc').message).toContain('cannot create files in it');
  });

  it('a path through a file is refused', () => {
    const file = join(temp(), 'a-file');
    writeFileSync(file, 'x');
    expect(refusal(join(file, 'sub')).message).toContain('cannot create');
    expect(refusal(file).message).toContain('not a directory');
  });

  it('a read-only folder is refused for a user that cannot write it', () => {
    const root = temp();
    chmodSync(root, 0o500);
    try {
      // root bypasses file modes; the write probe is what catches the file systems that refuse root too (/proc).
      if (process.getuid?.() === 0) expect(prepareDataDir(root)).toBe(root);
      else expect(refusal(root).message).toContain('cannot create files in it (EACCES)');
    } finally {
      chmodSync(root, 0o700);
    }
    expect(existsSync(root)).toBe(true);
  });
});
