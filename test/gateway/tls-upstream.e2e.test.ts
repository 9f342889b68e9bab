import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses } from '../helpers/cluster.js';
import { adminClient } from '../helpers/processes.js';

// https:// nodes: the upstream client speaks TLS with SNI and verifies the node's certificate against
// the system CAs (plus NODE_EXTRA_CA_CERTS, which is how this test trusts its own self-signed one).
const TOKEN = 'tls-upstream-token-0123456789';
const tlsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');
const pem = (name: string) => readFileSync(join(tlsDir, name));
const procs = new IsogateProcesses(TOKEN);
const servers: Server[] = [];
const handshakes = { trusted: 0, untrusted: 0 };
let gw = 0;
let admin = 0;
const call = adminClient(() => admin, TOKEN);

/** An https upstream with the named fixture certificate; answers with its name, the SNI and the path. */
async function httpsUpstream(cert: 'trusted' | 'untrusted'): Promise<string> {
  const server = createServer({ key: pem(`${cert}-key.pem`), cert: pem(`${cert}-cert.pem`) }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ cert, path: req.url, host: req.headers.host }));
  });
  server.on('secureConnection', () => handshakes[cert]++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const start = await procs.start('start', ['--workers', '0', '--no-demo'], {
    env: { NODE_EXTRA_CA_CERTS: join(tlsDir, 'trusted-cert.pem') },
  });
  ({ gateway: gw, admin } = start);
});

afterAll(async () => {
  await procs.stopAll();
  for (const s of servers) s.close();
});

async function apiTo(name: string, url: string): Promise<void> {
  const api = await call('POST', '/admin/apis', { name, path: `/${name}/*`, algorithm: 'round_robin' });
  const node = await call('POST', `/admin/apis/${api.id}/nodes`, { name, connector: { kind: 'simple-url', url } });
  expect(node.id).toBeTypeOf('string');
}

describe('https nodes', () => {
  it('are proxied over TLS when their certificate is trusted, on a kept-alive connection', async () => {
    const url = await httpsUpstream('trusted');
    await apiTo('secure', url);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${gw}/secure/x?i=${i}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        cert: 'trusted',
        path: `/secure/x?i=${i}`,
        host: url.slice('https://'.length),
      });
    }
    expect(handshakes.trusted).toBe(1);
  });

  it('are refused with UPSTREAM_ERROR when their certificate is not trusted', async () => {
    await apiTo('forged', await httpsUpstream('untrusted'));
    const res = await fetch(`http://127.0.0.1:${gw}/forged/x`);
    expect(res.status).toBe(502);
    expect(res.headers.get('x-isogate-error')).toBe('UPSTREAM_ERROR');
  });
});
