import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DOC_SCREENSHOT_DIR, DOC_SCREENSHOTS } from '../helpers/doc-screenshots.js';

// The README and every docs page: each link, anchor, image and repository path they name exists, so
// a moved file or a renamed heading breaks the build instead of a reader's click.
const root = fileURLToPath(new URL('../..', import.meta.url));
const docsDir = join(root, 'docs');
const pages = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(docsDir)
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The text outside fenced code blocks (links and paths in shell examples are not claims about this repository). */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const match of prose(markdown).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = match[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every `[text](target)` and `![alt](target)` outside code blocks. */
function linksOf(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

/** Repository paths named in inline code (`src/gateway/lifecycle.ts`, `docs/grafana-dashboard.json`). */
function pathsOf(markdown: string): string[] {
  const tops = 'src|test|bench|deploy|docs|scripts|scripts-examples|web|bin|\\.ci';
  return (
    [...prose(markdown).matchAll(new RegExp(`\`((?:${tops})/[A-Za-z0-9_./-]*)\``, 'g'))]
      .map((m) => m[1]!)
      .filter((p) => !p.includes('<'))
      // Build output (web/dist) is made by `npm run build`, not kept in the repository.
      .filter((p) => !/^web\/dist(\/|$)/.test(p))
  );
}

const read = (page: string) => readFileSync(join(root, page), 'utf8');

describe('docs links', () => {
  it('finds the pages it checks', () => {
    expect(pages).toEqual(
      expect.arrayContaining(['README.md', 'docs/operations.md', 'docs/errors.md', 'docs/console.md']),
    );
  });

  it.each(pages)('every link and anchor in %s leads somewhere', (page) => {
    const broken: string[] = [];
    for (const target of linksOf(read(page))) {
      if (/^[a-z]+:/i.test(target)) continue; // http(s), mailto: not this repository's
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path === '' ? join(root, page) : resolve(dirname(join(root, page)), decodeURIComponent(path));
      if (!file.startsWith(root) || !existsSync(file)) {
        broken.push(`${target} (no ${relative(root, file)})`);
        continue;
      }
      if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(anchor)) {
        broken.push(`${target} (no heading #${anchor} in ${relative(root, file)})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it.each(pages)('every repository path named in %s exists', (page) => {
    const missing = pathsOf(read(page)).filter((p) => !existsSync(join(root, p)));
    expect(missing).toEqual([]);
  });

  it('the README links every docs page, and stays a front door (under 15 KB)', () => {
    const readme = read('README.md');
    const linked = new Set(linksOf(readme).map((l) => l.split('#')[0]));
    const unlinked = pages.filter((p) => p.startsWith('docs/') && !linked.has(p));
    expect(unlinked).toEqual([]);
    expect(Buffer.byteLength(readme)).toBeLessThan(15 * 1024);
  });

  it('the anchor rule matches GitHub on the headings these pages use', () => {
    const anchors = anchorsOf(
      '# How a request flows\n## High availability (`npm run bench:cluster`)\n## What `npm test` prepares\n## Notes\n## Notes\n```sh\n# not a heading\n```\n',
    );
    expect([...anchors]).toEqual([
      'how-a-request-flows',
      'high-availability-npm-run-benchcluster',
      'what-npm-test-prepares',
      'notes',
      'notes-1',
    ]);
  });
});

describe('docs screenshots', () => {
  const shown = new Set(
    pages.flatMap((p) =>
      linksOf(read(p))
        .filter((l) => l.endsWith('.png'))
        .map((l) => relative(DOC_SCREENSHOT_DIR, resolve(dirname(join(root, p)), l))),
    ),
  );
  const files = readdirSync(DOC_SCREENSHOT_DIR).filter((f) => f.endsWith('.png'));

  it('every screenshot in docs/screenshots is one the browser tests write, and the docs show it', () => {
    expect(files.sort()).toEqual(Object.values(DOC_SCREENSHOTS).sort());
    expect([...shown].sort()).toEqual(files.sort());
    for (const f of files) expect(statSync(join(DOC_SCREENSHOT_DIR, f)).size).toBeGreaterThan(10_000);
  });

  it('includes the Cluster page and the Traffic tab', () => {
    expect(shown).toContain('cluster.png');
    expect(shown).toContain('traffic.png');
  });

  it('every docs screenshot is taken by a browser test under the name that maps to it', () => {
    const webTests = readdirSync(join(root, 'test', 'web'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => readFileSync(join(root, 'test', 'web', f), 'utf8'))
      .join('\n');
    const taken = new Set([...webTests.matchAll(/screenshot\(\w+, '([^']+)'/g)].map((m) => m[1]!));
    expect(Object.keys(DOC_SCREENSHOTS).filter((name) => !taken.has(name))).toEqual([]);
  });
});
