import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SELECTOR_MAX_CODE } from '../../model/selector.js';
import { packageRoot } from '../../paths.js';
import type { AdminDeps } from '../deps.js';

/** A selector the console's editor can start from (one `scripts-examples/*.js` file). */
export interface SelectorTemplate {
  /** The file name without `.js` (`canary-by-query`). */
  name: string;
  /** The first line of the file's leading comment, else the name in words (`Canary by query`). */
  title: string;
  /** The rest of the leading comment, or ''. */
  description: string;
  code: string;
}

const MAX_TEMPLATES = 100;

/** `Canary by query` from `canary-by-query`. */
function titleOf(name: string): string {
  const words = name.replace(/[-_]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The file's leading `//` comment block (without a line that only names the file): its first line is
 * the title (null when there is no comment), the rest, joined, the description.
 */
export function describeTemplate(code: string): { title: string | null; description: string } {
  const lines: string[] = [];
  for (const raw of code.split('\n')) {
    const line = raw.trim();
    if (line === '' && lines.length === 0) continue;
    if (!line.startsWith('//')) break;
    const text = line.replace(/^\/\/+\s?/, '').trim();
    if (/^[\w./-]*scripts-examples\/[\w.-]+\.js$/.test(text)) continue;
    lines.push(text);
  }
  const [first, ...rest] = lines.filter((l, i) => l !== '' || i > 0);
  if (first === undefined || first === '') return { title: null, description: rest.join(' ').trim() };
  return { title: first.replace(/\.$/, ''), description: rest.join(' ').replace(/\s+/g, ' ').trim() };
}

/** Reads the templates in a folder, sorted by name; a missing folder has none. */
export async function readSelectorTemplates(dir: string): Promise<SelectorTemplate[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.js')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const templates: SelectorTemplate[] = [];
  for (const file of files.slice(0, MAX_TEMPLATES)) {
    const path = join(dir, file);
    const info = await stat(path);
    // Whatever the editor loads must also be savable, so oversized files are not offered.
    if (!info.isFile() || info.size > SELECTOR_MAX_CODE) continue;
    const code = await readFile(path, 'utf8');
    const name = file.slice(0, -'.js'.length);
    const about = describeTemplate(code);
    templates.push({ name, title: about.title ?? titleOf(name), description: about.description, code });
  }
  return templates;
}

/** `GET /admin/selector-templates`: the example selectors of `scripts-examples/`, read on each call. */
export function registerTemplateRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const dir = deps.templatesDir ?? join(packageRoot(), 'scripts-examples');
  app.get('/selector-templates', async (): Promise<SelectorTemplate[]> => readSelectorTemplates(dir));
}
