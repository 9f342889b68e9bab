import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeTemplate } from '../../src/admin/routes/templates.js';
import { tempDir } from '../store/fixtures.js';
import { startAdmin, type AdminHarness } from './harness.js';

describe('GET /admin/selector-templates', () => {
  let h: AdminHarness | undefined;
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(async () => {
    await h?.close();
    dir?.remove();
    h = undefined;
    dir = undefined;
  });

  it('lists the .js files of the folder by name, titled and described by their leading comment, with the code', async () => {
    dir = tempDir('isogate-templates-');
    const canary =
      '// scripts-examples/canary-by-query.js\n// Canary by query parameter.\n// Requests with ?select_code=temp_node go to the\n// nodes tagged temp.\nfunction select(r, e, nodes) { return nodes; }\n';
    writeFileSync(join(dir.dir, 'canary-by-query.js'), canary);
    writeFileSync(join(dir.dir, 'all_nodes.js'), 'function select(r, e, nodes) { return nodes; }\n');
    writeFileSync(join(dir.dir, 'README.md'), '# not a template');
    writeFileSync(join(dir.dir, 'huge.js'), '//' + 'x'.repeat(70 * 1024));
    mkdirSync(join(dir.dir, 'folder.js'));
    h = await startAdmin({ templatesDir: dir.dir });

    const res = await h.call('GET', '/admin/selector-templates');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        name: 'all_nodes',
        title: 'All nodes',
        description: '',
        code: 'function select(r, e, nodes) { return nodes; }\n',
      },
      {
        name: 'canary-by-query',
        title: 'Canary by query parameter',
        description: 'Requests with ?select_code=temp_node go to the nodes tagged temp.',
        code: canary,
      },
    ]);
  });

  it('answers an empty list when the folder does not exist, and needs the token', async () => {
    dir = tempDir('isogate-templates-');
    h = await startAdmin({ templatesDir: join(dir.dir, 'missing') });
    expect((await h.call('GET', '/admin/selector-templates')).body).toEqual([]);
    expect((await h.call('GET', '/admin/selector-templates', undefined, { token: null })).status).toBe(401);
  });

  it('reads the project scripts-examples folder by default', async () => {
    h = await startAdmin();
    const res = await h.call('GET', '/admin/selector-templates');
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
    for (const t of res.body) expect(t.code).toContain('select');
  });
});

describe('describeTemplate', () => {
  it('skips leading blank lines and the path line, and stops at the first line of code', () => {
    expect(
      describeTemplate(
        '\n// scripts-examples/x.js\n// Routes by header.\n// More   words\n// here.\nfunction select() {}\n// later',
      ),
    ).toEqual({
      title: 'Routes by header',
      description: 'More words here.',
    });
    expect(describeTemplate('function select() {}\n// later comment')).toEqual({ title: null, description: '' });
  });
});
