import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adminErrors } from '../../src/admin/errors.js';
import { GATEWAY_ERRORS } from '../../src/gateway/errors.js';

// What the docs say against what the code has: the error tables and the metric names.
const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = (name: string) => readFileSync(join(root, 'docs', name), 'utf8');
const allDocs = () =>
  readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map(doc)
    .join('\n');

describe('docs against the code', () => {
  it('every code in the gateway error table is in docs/errors.md with its status', () => {
    const page = doc('errors.md');
    const missing = Object.entries(GATEWAY_ERRORS)
      .filter(([code, { status }]) => !new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`).test(page))
      .map(([code, { status }]) => `${code} ${status}`);
    expect(missing).toEqual([]);
  });

  it('docs/errors.md lists no gateway error code the table does not have', () => {
    const listed = [...doc('errors.md').matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*\d{3}\s*\|/gm)].map((m) => m[1]!);
    expect(listed.filter((code) => !(code in GATEWAY_ERRORS))).toEqual([]);
  });

  it('every admin error code is documented with its status', () => {
    const docs = allDocs();
    const missing = Object.entries(adminErrors)
      .filter(([code, { status }]) => !new RegExp(`\`${code}\`[^\\n]*\\|\\s*${status}\\s*\\|`).test(docs))
      .map(([code]) => code);
    expect(missing).toEqual([]);
  });

  it('every isogate_ metric the code registers is documented', () => {
    const dir = join(root, 'src', 'metrics');
    const source = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    const names = [...new Set([...source.matchAll(/'(isogate_[a-z_]+)'/g)].map((m) => m[1]!))];
    expect(names.length).toBeGreaterThan(10);
    const docs = allDocs();
    expect(names.filter((n) => !docs.includes(`\`${n}\``))).toEqual([]);
  });
});
