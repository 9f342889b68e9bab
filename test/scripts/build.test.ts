import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inputsHash, upToDate, writeStamp } from '../../scripts/build.mjs';

// `npm start` and `npm test` build only when a source changed: the up-to-date check on a project tree.
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'isogate-build-'));
  dirs.push(root);
  const files: Record<string, string> = {
    'package.json': '{}',
    'src/cli.ts': 'export {};',
    'web/src/main.ts': 'export {};',
    'dist/src/cli.js': '',
    'web/dist/index.html': '<!doctype html>',
  };
  for (const [path, text] of Object.entries(files)) put(root, path, text);
  return root;
}

function put(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('scripts/build.mjs', () => {
  it('is up to date after a build stamp, and stale after any source edit', () => {
    const root = tree();
    expect(upToDate(root)).toBe(false); // never built here
    writeStamp(root, inputsHash(root));
    expect(upToDate(root)).toBe(true);
    put(root, 'src/cli.ts', 'export const x = 1;');
    expect(upToDate(root)).toBe(false);
  });

  it('a new file, a console source or package.json counts; outputs and node_modules do not', () => {
    const root = tree();
    const first = inputsHash(root);
    put(root, 'dist/src/other.js', 'x');
    put(root, 'web/dist/assets/a.js', 'x');
    put(root, 'node_modules/x/index.js', 'x');
    expect(inputsHash(root)).toBe(first);
    put(root, 'src/new.ts', '');
    const second = inputsHash(root);
    expect(second).not.toBe(first);
    put(root, 'web/src/main.ts', 'export const y = 2;');
    expect(inputsHash(root)).not.toBe(second);
    const third = inputsHash(root);
    put(root, 'package.json', '{"scripts":{}}');
    expect(inputsHash(root)).not.toBe(third);
  });

  it('rewriting a file with the same contents is no change (a checkout or touch)', () => {
    const root = tree();
    writeStamp(root, inputsHash(root));
    put(root, 'src/cli.ts', 'export {};');
    expect(upToDate(root)).toBe(true);
  });

  it('a missing output means a build, whatever the stamp says', () => {
    const root = tree();
    writeStamp(root, inputsHash(root));
    rmSync(join(root, 'web', 'dist', 'index.html'));
    expect(upToDate(root)).toBe(false);
  });
});
