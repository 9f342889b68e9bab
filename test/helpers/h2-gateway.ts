import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { TestCa, type TestCertificate } from './certs.js';
import { addNode, createApi } from './fixtures.js';
import { startTestGateway, type TestGateway } from './isogate.js';
import { startUpstreams, type TestUpstream } from './upstreams.js';

/** The SNI name the HTTP/2 tests' certificate is issued for. */
export const H2_HOST = 'h2.test';

/** A gateway with its TLS port on and a certificate for H2_HOST, and the APIs the HTTP/2 tests share. */
export interface H2TestGateway {
  t: TestGateway;
  /** The TLS port. */
  port: number;
  cert: TestCertificate;
  /** Nodes a, b and c of `/spread/*` (round robin, bodies up to 1,000 bytes). */
  ups: TestUpstream[];
  stop(): Promise<void>;
}

/**
 * Starts a gateway with `--gateway-tls-port 0`, uploads a certificate for H2_HOST, and creates
 * `/spread/*` (nodes a, b, c, round robin, `maxBodyBytes` 1,000) and `/slow` (a node that answers
 * `slow` after 1.5 s, so that streams stay open).
 */
export async function startH2TestGateway(): Promise<H2TestGateway> {
  const ca = new TestCa();
  const cert = ca.issue([H2_HOST]);
  const t = await startTestGateway(['--gateway-tls-port', '0']);
  const ups = await startUpstreams(['a', 'b', 'c']);
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: cert.certificate, privateKey: cert.privateKey }))
      .status,
  ).toBe(201);
  const spread = await createApi(t, {
    name: 'spread',
    path: '/spread/*',
    algorithm: 'round_robin',
    maxBodyBytes: 1000,
  });
  for (const u of ups) await addNode(t, spread, u);
  const slow: Server = createServer((_req, res) => setTimeout(() => res.end('slow'), 1_500));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  const slowApi = await createApi(t, { name: 'slow', path: '/slow', algorithm: 'round_robin' });
  await addNode(t, slowApi, { name: 'slow', url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}` });
  return {
    t,
    port: t.app.gatewayTls!.port,
    cert,
    ups,
    async stop() {
      await t.stop();
      await Promise.all(ups.map((u) => u.close()));
      slow.closeAllConnections();
      slow.close();
      ca.dispose();
    },
  };
}
