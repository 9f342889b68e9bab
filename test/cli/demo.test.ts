import { afterAll, describe, expect, it } from 'vitest';
import { IsogateProcesses, type IsogateProcess } from '../helpers/cluster.js';
import { adminClient, freePort, requestOnce, until } from '../helpers/processes.js';

// The demo's state persists across starts (the start line says so), and --reset-demo puts the demo
// back as first seeded while the operator's own APIs and variables stay.
const TOKEN = 'demo-reset-token-0123456789';
const procs = new IsogateProcesses(TOKEN);
afterAll(() => procs.stopAll());

describe('the demo across starts', () => {
  it('keeps a flipped variable at the next start, says how to undo it, and --reset-demo does', async () => {
    const demoBase = 20000 + Math.floor(Math.random() * 20000);
    const ports = { gateway: await freePort(), admin: await freePort(), status: await freePort() };
    const args = ['--workers', '0', '--demo-port-base', String(demoBase)];
    let p: IsogateProcess = await procs.start('start', args, { ports, env: {} });
    const dataDir = p.dataDir;
    const call = adminClient(() => ports.admin, TOKEN);
    expect(p.stderr()).toContain('seeded the demo APIs demo and demo-sticky; what you change is kept in');
    expect(p.stderr()).toContain('--reset-demo (npm start -- --reset-demo) puts the demo back as first seeded');

    // The operator flips IP1 off, unticks a node and adds an API of their own.
    await call('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    await call('PUT', '/admin/variables/MINE', { value: 'x' });
    const mine = await call('POST', '/admin/apis', { name: 'mine', path: '/mine', algorithm: 'round_robin' });
    const demo = (await call('GET', '/admin/apis')).find((a: { name: string }) => a.name === 'demo');
    const ip2 = (await call('GET', `/admin/apis/${demo.id}/nodes`)).find((n: { name: string }) => n.name === 'ip2-a');
    await call('PATCH', `/admin/apis/${demo.id}/nodes/${ip2.id}`, { enabled: false });
    expect(await requestOnce(ports.gateway, '/demo/x')).toBe('RULES_EXCLUDED_ALL');
    expect(await p.stop()).toBe(0);

    p = await procs.start('start', args, { ports, dataDir });
    expect(p.stderr()).toContain('the config is as you left it, demo changes included');
    expect(await requestOnce(ports.gateway, '/demo/x')).toBe('RULES_EXCLUDED_ALL');
    expect(await p.stop()).toBe(0);

    p = await procs.start('start', [...args, '--reset-demo'], { ports, dataDir });
    expect(p.stderr()).toContain('are back as first seeded');
    const vars = Object.fromEntries(
      (await call('GET', '/admin/variables')).map((v: { name: string; value: string }) => [v.name, v.value]),
    );
    expect(vars).toEqual({ IP1_enable: 'true', IP2_enable: 'true', MINE: 'x' });
    expect((await call('GET', '/admin/apis')).map((a: { name: string }) => a.name).sort()).toEqual([
      'demo',
      'demo-sticky',
      'mine',
    ]);
    expect((await call('GET', `/admin/apis/${mine.id}`)).name).toBe('mine');
    // Both nodes answer in turn; an answer without a node (the gateway's own error) is kept by its
    // code, so a failure says what came back.
    const seen = new Set<string>();
    await until(
      async () => {
        const res = await fetch(`http://127.0.0.1:${ports.gateway}/demo/x`);
        const body = (await res.json()) as { node?: string; error?: { code: string } };
        seen.add(body.node ?? `${res.status} ${body.error?.code ?? ''}`);
        return [...seen].sort();
      },
      (nodes) => nodes.includes('ip1-a') && nodes.includes('ip2-a'),
      100,
      20,
    );
    expect([...seen].filter((n) => n.startsWith('ip')).sort()).toEqual(['ip1-a', 'ip2-a']);
    expect(await p.stop()).toBe(0);
  });
});
