import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { configCli } from '../helpers/config-cli.js';

// Config as files (issue 17): export to YAML or JSON, apply a file in one transaction (CLI and admin
// API), by name so files move between installations. Real gateways in this process on SQLite, real
// upstreams.

const CANARY = `function select(request, env, nodes) {
  if (request.query.select_code === "temp_node") return nodes.filter((n) => n.tags.includes("temp"));
  return nodes.filter((n) => !n.tags.includes("temp"));
}
`;

let a: TestGateway;
let b: TestGateway;
let ups: TestUpstream[];
const dir = mkdtempSync(join(tmpdir(), 'isogate-config-files-'));

const cli = configCli;

const exportText = async (t: TestGateway) =>
  (
    await fetch(`${t.adminUrl}/admin/config/export?format=yaml`, {
      headers: { authorization: `Bearer ${t.app.adminToken}` },
    })
  ).text();

beforeAll(async () => {
  ups = await startUpstreams(['ip1-a', 'ip2-a', 'ip1-temp', 'w-big', 'w-small']);
  const up = (name: string) => ups.find((u) => u.name === name)!.url;
  a = await startTestGateway();
  for (const [name, value] of [
    ['IP1_enable', 'true'],
    ['IP2_enable', 'false'],
  ])
    await a.admin('PUT', `/admin/variables/${name}`, { value });
  const shop = (
    await a.admin('POST', '/admin/apis', {
      name: 'shop',
      path: '/shop/*',
      algorithm: 'round_robin',
      selector: { code: CANARY },
    })
  ).body.id;
  for (const [name, variable, tags] of [
    ['ip1-a', 'IP1_enable', []],
    ['ip2-a', 'IP2_enable', []],
    ['ip1-temp', 'IP1_enable', ['temp']],
  ] as const) {
    await a.admin('POST', `/admin/apis/${shop}/nodes`, {
      name,
      connector: { kind: 'simple-url', url: up(name) },
      tags,
      rules: [{ variable, op: 'eq', value: 'true' }],
    });
  }
  const weighted = (
    await a.admin('POST', '/admin/apis', {
      name: 'weighted',
      methods: ['GET', 'POST'],
      path: '/w/*',
      stripPrefix: true,
      algorithm: 'weighted',
      retries: 2,
      retry: { statuses: [503], deadlineMs: 5000 },
      health: { passive: { consecutiveFailures: 3 }, panic: 'reject' },
    })
  ).body.id;
  await a.admin('POST', `/admin/apis/${weighted}/nodes`, {
    name: 'big',
    connector: { kind: 'simple-url', url: up('w-big') },
    weight: 3,
  });
  await a.admin('POST', `/admin/apis/${weighted}/nodes`, {
    name: 'small',
    connector: { kind: 'simple-url', url: up('w-small') },
    weight: 1,
  });
  await a.admin('POST', '/admin/apis', {
    name: 'hashed',
    host: 'api.example.com',
    path: '/h',
    algorithm: 'hash',
    hashOn: { source: 'header', name: 'x-user' },
  });
  b = await startTestGateway();
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('config as files', () => {
  it('exports YAML that names objects, not ids, with every setting spelled out', async () => {
    const text = await exportText(a);
    expect(text.startsWith('# isogate config (format 1, with end line); apply with: isogate config apply FILE\n')).toBe(
      true,
    );
    expect(text.endsWith('\n# end of isogate config\n')).toBe(true);
    const file = parseYaml(text);
    expect(Object.keys(file)).toEqual(['isogate', 'variables', 'apis', 'nodes', 'certificates', 'consumers']);
    expect(file.variables).toEqual([
      { name: 'IP1_enable', value: 'true' },
      { name: 'IP2_enable', value: 'false' },
    ]);
    // By name, so an export does not depend on the order things were made in.
    expect(file.apis.map((x: { name: string }) => x.name)).toEqual(['hashed', 'shop', 'weighted']);
    expect(file.apis[0]).toMatchObject({ host: 'api.example.com', hashOn: { source: 'header', name: 'x-user' } });
    expect(file.apis[2]).toMatchObject({
      stripPrefix: true,
      retries: 2,
      retry: { statuses: [503], deadlineMs: 5000 },
      health: { panic: 'reject' },
    });
    expect(file.nodes.map((n: { api: string; name: string }) => `${n.api}/${n.name}`)).toEqual([
      'shop/ip1-a',
      'shop/ip2-a',
      'shop/ip1-temp',
      'weighted/big',
      'weighted/small',
    ]);
    expect(text).not.toMatch(/\bid:|apiId|createdAt|updatedAt/);
    // The selector stays readable in review: a block, line by line.
    expect(text).toContain('      if (request.query.select_code === "temp_node")');
    const json = await (
      await fetch(`${a.adminUrl}/admin/config/export`, { headers: { authorization: `Bearer ${a.app.adminToken}` } })
    ).json();
    expect(json).toEqual(file);
  });

  it('round trip: the export applied to an empty installation gives the same config and the same routing', async () => {
    const text = await exportText(a);
    const res = await fetch(`${b.adminUrl}/admin/config/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${b.app.adminToken}`, 'content-type': 'application/yaml' },
      body: text,
    });
    expect(res.status).toBe(200);
    const result = await res.json();
    expect(result.version).toBe(1);
    expect(result.changes).toHaveLength(2 + 3 + 5);
    expect(await exportText(b)).toBe(text);

    for (const [path, init, n] of [
      ['/shop/item', undefined, 6],
      ['/shop/item?select_code=temp_node', undefined, 3],
      ['/w/x', undefined, 8],
      ['/h', undefined, 1],
    ] as const) {
      expect({ path, b: await spread(b, path, n, init) }).toEqual({ path, b: await spread(a, path, n, init) });
    }
    expect(await spread(b, '/shop/item', 4)).toEqual({ 'ip1-a': 4 });
    expect(await spread(b, '/w/x', 8)).toEqual({ 'w-big': 6, 'w-small': 2 });
  });

  it('dry-runs an apply over the admin API: what it would change and do to traffic, nothing written', async () => {
    const post = (query: string, body: unknown) =>
      fetch(`${b.adminUrl}/admin/config/apply${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${b.app.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const file = parseYaml(await exportText(b));
    expect(await post('?dryRun=true', file)).toEqual({
      status: 200,
      body: { dryRun: true, changes: [], impact: { apis: [], losesLastNode: [], summary: [] } },
    });
    file.variables[0].value = 'false';
    const dry = await post('?dryRun=true', file);
    expect(dry.body).toMatchObject({
      dryRun: true,
      changes: [{ op: 'update', kind: 'variable', name: 'IP1_enable', after: { value: 'false' } }],
      impact: { losesLastNode: ['shop'] },
    });
    expect((await b.admin('GET', '/admin/variables/IP1_enable')).body.value).toBe('true');
  });

  it('applies a changed file in place: ids kept, only what differs changes, all audited as one write', async () => {
    const shop = (await b.admin('GET', '/admin/apis')).body.find((x: { name: string }) => x.name === 'shop');
    const shopNodes = (await b.admin('GET', `/admin/apis/${shop.id}/nodes`)).body;
    const file = parseYaml(await exportText(b));
    file.variables[1].value = 'true';
    file.nodes = file.nodes.filter((n: { name: string }) => n.name !== 'ip1-temp');
    file.nodes[0].weight = 7;
    file.apis.push({ name: 'new-one', path: '/new', algorithm: 'ip_hash' });
    const path = join(dir, 'changed.json');
    writeFileSync(path, JSON.stringify(file));

    const dry = await cli(['apply', path, '--dry-run', '--data-dir', b.dataDir]);
    expect(dry.code).toBe(0);
    // In the order they are made: deletes first, then puts, parents before children.
    expect(dry.out.split('\n')).toEqual([
      '- node shop/ip1-temp',
      '~ variable IP2_enable',
      '    value: false → true',
      '+ api new-one',
      '~ node shop/ip1-a',
      '    weight: 1 → 7',
      '4 changes (dry run: nothing was written).',
      '',
    ]);
    expect((await b.admin('GET', '/admin/config/version')).body.version).toBe(1);

    const applied = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(applied.code).toBe(0);
    expect(applied.out).toContain('Applied 4 changes in one transaction: config version 2.');
    await b.app.plane!.holder.refresh();
    const after = (await b.admin('GET', `/admin/apis/${shop.id}/nodes`)).body;
    expect(after.map((n: { id: string; weight: number }) => [n.id, n.weight])).toEqual([
      [shopNodes[0].id, 7],
      [shopNodes[1].id, 1],
    ]);
    const { entries } = (await b.admin('GET', '/admin/audit?version=2')).body;
    expect(entries).toHaveLength(4);
    expect(
      entries.every(
        (e: { cause: string; actor: { name: string } }) =>
          e.cause === 'config apply' && e.actor.name.startsWith('cli ('),
      ),
    ).toBe(true);
    expect((await cli(['apply', path, '--data-dir', b.dataDir])).out).toBe(
      'The stored config already matches the file; nothing to apply.\n',
    );
  });

  it('applies only what its diff showed: a racing write to what the file touches is refused, one elsewhere is not', async () => {
    const original = await exportText(b);
    const file = parseYaml(original);
    file.variables.push({ name: 'SHOWN', value: 'yes' });
    const path = join(dir, 'raced.json');
    writeFileSync(path, JSON.stringify(file));
    // Another writer lands between the diff (printed first) and the apply: SQLite commits it at once.
    const raceOn = (line: string, write: () => Promise<unknown>) => {
      let raced: Promise<unknown> | undefined;
      const onOut = (text: string) => {
        if (raced === undefined && text.startsWith(line)) raced = write();
      };
      return { onOut, raced: () => raced };
    };
    const racer = raceOn('+ variable SHOWN', () => b.app.store.putVariable('RACER', 'x'));
    const res = await cli(['apply', path, '--data-dir', b.dataDir], '', racer.onOut);
    await racer.raced();
    expect(res.code).toBe(1);
    expect(res.err).toContain(
      'the stored config changed since the diff was made, so the apply would also do what was not shown (delete variable RACER); nothing was applied',
    );
    let variables = (await b.admin('GET', '/admin/variables')).body.map((v: { name: string }) => v.name);
    expect(variables).toContain('RACER');
    expect(variables).not.toContain('SHOWN');

    // A racing write to the content of a shown change (not only its name) is refused too.
    file.variables.find((v: { name: string }) => v.name === 'IP1_enable').value = 'false';
    file.variables.push({ name: 'RACER', value: 'x' });
    writeFileSync(path, JSON.stringify(file));
    const flip = raceOn('~ variable IP1_enable', () => b.app.store.putVariable('IP1_enable', 'maybe'));
    const flipped = await cli(['apply', path, '--data-dir', b.dataDir], '', flip.onOut);
    await flip.raced();
    expect(flipped.code).toBe(1);
    expect(flipped.err).toContain('(update variable IP1_enable)');
    variables = (await b.admin('GET', '/admin/variables')).body.map((v: { name: string }) => v.name);
    expect(variables).not.toContain('SHOWN');

    // A file of variables only: a racing write to a node (a kind the file leaves as stored) does not matter.
    const before = (await b.admin('GET', '/admin/config/version')).body.version;
    const only = join(dir, 'raced-variables.yaml');
    writeFileSync(
      only,
      `isogate: 1\nvariables:\n${file.variables.map((v: { name: string; value: string }) => `  - { name: ${v.name}, value: "${v.value}" }`).join('\n')}\n`,
    );
    const [shop] = (await b.admin('GET', '/admin/apis')).body.filter((x: { name: string }) => x.name === 'shop');
    const [node] = (await b.admin('GET', `/admin/apis/${shop.id}/nodes`)).body;
    const elsewhere = raceOn('+ variable SHOWN', () =>
      b.app.store.updateNode(shop.id, node.id, (n) => ({ ...n, weight: n.weight + 1 })),
    );
    const landed = await cli(['apply', only, '--data-dir', b.dataDir], '', elsewhere.onOut);
    expect(((await elsewhere.raced()) as { weight: number }).weight).toBe(node.weight + 1);
    expect(landed.err).toBe('');
    expect(landed.code).toBe(0);
    expect(landed.out).toContain(`in one transaction: config version ${before + 2}.`);
    variables = (await b.admin('GET', '/admin/variables')).body;
    expect(variables.find((v: { name: string }) => v.name === 'SHOWN').value).toBe('yes');
    expect(variables.find((v: { name: string }) => v.name === 'IP1_enable').value).toBe('false');

    // Back as it was, for the tests after this one.
    const back = join(dir, 'raced-back.yaml');
    writeFileSync(back, original);
    expect((await cli(['apply', back, '--data-dir', b.dataDir])).code).toBe(0);
  });

  it('a file that lists only some kinds leaves the others as stored; nodes need their apis', async () => {
    const before = parseYaml(await exportText(b));
    const version = (await b.admin('GET', '/admin/config/version')).body.version;
    const path = join(dir, 'only-variables.yaml');
    writeFileSync(
      path,
      'isogate: 1\nvariables:\n  - { name: IP1_enable, value: "true" }\n  - { name: IP2_enable, value: "false" }\n',
    );
    const res = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(res.code).toBe(0);
    expect(res.out.split('\n')[0]).toBe('~ variable IP2_enable');
    const after = parseYaml(await exportText(b));
    expect(after.apis).toEqual(before.apis);
    expect(after.nodes).toEqual(before.nodes);
    expect(after.variables).toEqual([
      { name: 'IP1_enable', value: 'true' },
      { name: 'IP2_enable', value: 'false' },
    ]);

    writeFileSync(path, 'isogate: 1\nnodes: []\n');
    const lonely = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(lonely.code).toBe(1);
    expect(lonely.err).toContain('nodes: a file that lists nodes must list their apis too');
    expect((await b.admin('GET', '/admin/config/version')).body.version).toBe(version + 1);
  });

  it('a bad file stores nothing and names each bad field with its path', async () => {
    const version = (await b.admin('GET', '/admin/config/version')).body.version;
    const exported = await exportText(b);
    const file = parseYaml(exported);
    const at = (f: { apis: Array<{ name: string }> }, name: string) => f.apis.findIndex((x) => x.name === name);
    expect([at(file, 'shop'), at(file, 'weighted')]).toEqual([2, 3]);
    file.apis[3].path = 'no-slash';
    file.nodes[2].api = 'missing';
    file.nodes[1].weight = 0;
    file.surprise = true;
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, JSON.stringify(file));

    const res = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(res.code).toBe(1);
    expect(res.err).toContain('is not a valid config file; nothing was applied');
    for (const field of ['apis.3.path: must start with /', 'nodes.1.weight:', 'surprise: unknown field'])
      expect(res.err).toContain(field);

    const api = await fetch(`${b.adminUrl}/admin/config/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${b.app.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(file),
    });
    expect(api.status).toBe(400);
    const paths = (await api.json()).error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['apis.3.path', 'nodes.1.weight', 'surprise']));

    // Cross-entry checks name their field too, once the entries themselves are valid.
    const crossed = parseYaml(exported);
    crossed.nodes[2].api = 'missing';
    crossed.apis[2].selector.code = 'function select(request, env, nodes) { return nodes.filter(n => ); }';
    crossed.apis.push({ ...crossed.apis[3], name: 'Weighted' });
    writeFileSync(path, JSON.stringify(crossed));
    const cross = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(cross.code).toBe(1);
    expect(cross.err).toContain('nodes.2.api: no API named "missing"');
    expect(cross.err).toContain('apis.2.selector.code: the selector does not parse');
    expect(cross.err).toContain('apis.4.name: an API named "Weighted" is already in apis.3');
    expect(cross.err).toContain('apis.4.path: apis.3 (weighted) already serves this route');

    writeFileSync(path, 'isogate: 1\napis: [\n');
    const broken = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(broken.err).toMatch(/is not YAML or JSON \(line \d+, column \d+\)/);

    expect((await b.admin('GET', '/admin/config/version')).body.version).toBe(version);
    expect(await exportText(b)).toBe(exported);
  });

  it('exports from the command line and reads a file from standard input', async () => {
    const json = await cli(['export', '--format', 'json', '--data-dir', b.dataDir]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual(parseYaml(await exportText(b)));
    const same = await cli(['apply', '-', '--dry-run', '--data-dir', b.dataDir], json.out);
    expect(same.out).toBe('The stored config already matches the file; nothing to apply.\n');
    expect((await cli(['export', '--format', 'toml', '--data-dir', b.dataDir])).err).toContain(
      '--format: must be yaml or json',
    );
    expect((await cli(['apply'])).err).toContain('apply needs the FILE');
  });

  it('publishes the file format as JSON Schema, from the same models', async () => {
    const schema = (await b.admin('GET', '/admin/config/schema')).body;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties)).toEqual([
      'isogate',
      'variables',
      'apis',
      'nodes',
      'certificates',
      'consumers',
    ]);
    expect(schema.properties.apis.items.properties.algorithm.enum).toEqual([
      'ip_hash',
      'round_robin',
      'weighted',
      'least_conn',
      'hash',
    ]);
    expect(schema.properties.nodes.items.required).toEqual(['api', 'name', 'connector']);
    expect(JSON.parse((await cli(['schema'])).out)).toEqual(schema);
  });

  it('asks for the admin role to export secrets', async () => {
    const editor = (await b.admin('POST', '/admin/tokens', { name: 'ed', role: 'editor' })).body.secret;
    const call = (query: string) =>
      fetch(`${b.adminUrl}/admin/config/export${query}`, { headers: { authorization: `Bearer ${editor}` } });
    expect((await call('')).status).toBe(200);
    expect((await call('?secrets=true')).status).toBe(403);
    expect((await b.admin('GET', '/admin/config/export?secrets=true')).status).toBe(200);
  });
});
