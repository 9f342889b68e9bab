import { accessSync, constants, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAdminServer } from './admin/server.js';
import { resolveAdminToken } from './admin/token.js';
import type { AdminRuntime } from './admin/runtime.js';
import { flagOf, type Options } from './config/options.js';
import { seedDemo, startDemoUpstreams } from './demo/seed.js';
import type { EchoUpstream } from './demo/echo.js';
import { clientIpResolver } from './gateway/client-ip.js';
import { explainBalance } from './gateway/explain.js';
import { NodeStats } from './gateway/node-stats.js';
import { PoolRegistry } from './gateway/pools.js';
import { createGatewayServer } from './gateway/server.js';
import { SelectorSandbox } from './selector/sandbox.js';
import { SnapshotHolder } from './snapshot/holder.js';
import { createStatusServer } from './status/server.js';
import { openSqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/store.js';

/** A startup failure tied to one option; the CLI prints it as one line naming the flag. */
export class StartupError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
  }
}

/** A running isogate: its bound addresses, admin token and a graceful stop. */
export interface Isogate {
  readonly gateway: AddressInfo;
  readonly admin: AddressInfo;
  readonly status: AddressInfo;
  readonly adminToken: string;
  readonly adminTokenGenerated: boolean;
  readonly store: Store;
  readonly holder: SnapshotHolder;
  /** Stops accepting, finishes in-flight requests (bounded by drainMs), closes everything. */
  close(): Promise<void>;
}

/**
 * Starts everything in this process on the embedded SQLite store: status port first (not ready), then
 * the config load, the gateway and the admin API; ready once the config serves.
 */
export async function startIsogate(options: Options, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Isogate> {
  const dataDir = resolve(options.dataDir);
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK);
  } catch (err) {
    throw new StartupError('--data-dir', `${dataDir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let token;
  try {
    token = resolveAdminToken(dataDir, env);
  } catch (err) {
    throw new StartupError('ISOGATE_ADMIN_TOKEN', (err as Error).message);
  }
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    const store = await openSqliteStore(join(dataDir, 'isogate.db'));
    cleanups.push(() => store.close());

    let ready = false;
    let draining = false;
    const holder: { current: SnapshotHolder | null } = { current: null };
    const status = await createStatusServer({
      ready: () => ready && !draining,
      details: () => ({ version: holder.current?.current?.version ?? null, draining, pid: process.pid }),
    });
    cleanups.push(() => status.close());
    const statusAddress = await listenFastify(status, options.statusHost, options.statusPort, 'statusPort');

    let demoUpstreams: EchoUpstream[] = [];
    if (options.demo) {
      if ((await store.version()) === 0) {
        await seedDemo(store, options.demoPortBase);
        log.info('seeded the demo config (APIs demo and demo-sticky; variables IP1_enable, IP2_enable)');
      }
      demoUpstreams = await startDemoUpstreams(options.demoPortBase, log);
      cleanups.push(() => Promise.all(demoUpstreams.map((u) => u.close())).then(() => undefined));
    }

    const sandbox = await SelectorSandbox.start({ logger: log.child({ component: 'selector' }), maxHosts: options.selectorProcesses });
    cleanups.push(() => sandbox.close());
    const pools = new PoolRegistry({ connections: options.upstreamConnections, keepAliveMs: 60_000 });
    cleanups.push(() => pools.close());
    const snapshots = new SnapshotHolder(store, sandbox, pools, log.child({ component: 'config' }));
    holder.current = snapshots;
    cleanups.push(() => snapshots.close());
    await snapshots.refresh();
    snapshots.startPolling(options.pollMs);

    const stats = new NodeStats();
    const gateway = createGatewayServer({
      holder: snapshots,
      clientIp: clientIpResolver(options.trustProxy),
      accessLog: options.accessLog ? log.child({ component: 'access' }) : null,
      stats,
    });
    const gatewayAddress = await listenHttp(gateway, options.gatewayHost, options.gatewayPort, 'gatewayPort');
    cleanups.push(() => closeHttp(gateway, options.drainMs));

    const runtime: AdminRuntime = {
      applied: () => snapshots.refresh(),
      async trialSelector(apiId, config, request) {
        const api = snapshots.current?.apis.get(apiId);
        const env = Object.fromEntries(snapshots.current?.variables ?? []);
        return sandbox.trial(config, request, env, (api?.eligible ?? []).map((n) => n.view));
      },
      async explain(apiId, request, selector) {
        const snapshot = snapshots.current!;
        const api = snapshot.apis.get(apiId);
        if (!api) throw new Error(`API ${apiId} is not in the serving config`);
        return explainBalance(snapshot, api, request, selector === undefined ? api.api.selector : selector, sandbox);
      },
      selectorStatus: (apiId) => sandbox.status(apiId),
      nodeStats: (nodeIds) => Object.fromEntries(nodeIds.map((id) => [id, stats.view(id)])),
    };
    const admin = await createAdminServer({ store, token: token.token, runtime, logger: log.child({ component: 'admin' }) });
    cleanups.push(() => admin.close());
    const adminAddress = await listenFastify(admin, options.adminHost, options.adminPort, 'adminPort');

    ready = true;
    log.info(
      { gateway: gatewayAddress, admin: adminAddress, status: statusAddress, version: snapshots.current?.version },
      'isogate serving',
    );
    let closing: Promise<void> | null = null;
    return {
      gateway: gatewayAddress,
      admin: adminAddress,
      status: statusAddress,
      adminToken: token.token,
      adminTokenGenerated: token.generated,
      store,
      holder: snapshots,
      close() {
        draining = true;
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function bindError(err: unknown, key: keyof Options, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new StartupError(flagOf(key), `port ${port} is already in use`);
  if (code === 'EACCES') return new StartupError(flagOf(key), `no permission to listen on ${host}:${port}`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new StartupError(flagOf(key), `cannot listen on ${host}:${port} (${code})`);
  return err as Error;
}

async function listenFastify(app: FastifyInstance, host: string, port: number, key: keyof Options): Promise<AddressInfo> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw bindError(err, key, host, port);
  }
  return app.server.address() as AddressInfo;
}

function listenHttp(server: Server, host: string, port: number, key: keyof Options): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', (err) => reject(bindError(err, key, host, port)));
    server.listen({ host, port, backlog: 4096 }, () => resolvePromise(server.address() as AddressInfo));
  });
}

/** Stops accepting, lets in-flight requests finish for up to `drainMs`, then cuts what is left. */
function closeHttp(server: Server, drainMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => server.closeAllConnections(), drainMs);
    // Keep-alive sockets become idle as their last response ends; close them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      done();
    });
    server.closeIdleConnections();
  });
}
