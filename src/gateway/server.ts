import { isValidHost } from '../http/host.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { SnapshotHolder } from '../snapshot/holder.js';
import type { AccessLog } from './access-log.js';
import type { Admission } from './admission.js';
import type { GatewayRequest, GatewayResponse } from './exchange.js';
import { GatewayHttpServer, type ClientTimeouts } from './http/server.js';
import { H2Sessions } from './h2/sessions.js';
import type { ClientIpResolver } from './client-ip.js';
import { RequestContext } from './context.js';
import { answerGatewayError } from './errors.js';
import { runLifecycle } from './lifecycle.js';
import type { NodeStats } from './node-stats.js';
import { logStage } from './stages/log.js';
import { respondStage } from './stages/respond.js';
import { hostOf, normalizePath } from './stages/route.js';
import type { TunnelRegistry } from './upgrade/tunnel.js';

/** What the data-plane server needs. */
export interface GatewayDeps {
  holder: SnapshotHolder;
  clientIp: ClientIpResolver;
  /** Access log (one line per request); null turns it off. */
  accessLog: AccessLog | null;
  stats: NodeStats;
  /** Prometheus counters of this process. */
  metrics: GatewayMetrics;
  /** True once the server is closing: every answer then carries `Connection: close`. */
  draining: () => boolean;
  /** The gateway's TLS port (where `httpsRedirect` sends plain requests), or null when it has none. */
  httpsPort: number | null;
  /** Open upgraded connections (WebSockets) of this process. */
  tunnels: TunnelRegistry;
  /** Longest pause in a request body read into memory before a node is asked, ms (then 408 BODY_TIMEOUT). */
  clientBodyTimeoutMs: number;
}

/**
 * The data-plane HTTP server: the gateway's own HTTP/1.1 server (no framework on the hot path) that
 * runs the lifecycle on the snapshot current when each request arrived.
 */
export function createGatewayServer(
  deps: GatewayDeps,
  timeouts: ClientTimeouts,
  admission: Admission,
): GatewayHttpServer {
  return new GatewayHttpServer(
    timeouts,
    (req, res) => {
      void handleRequest(deps, req, res);
    },
    (code) => deps.metrics.traffic.rejected(code),
    admission,
  );
}

/** HTTP/2 sessions for the TLS port, whose streams run the same lifecycle; each session is a client connection of `admission`. */
export function createH2Sessions(
  deps: GatewayDeps,
  timeouts: { idleTimeoutMs: number; sendTimeoutMs: number },
  admission: Admission,
): H2Sessions {
  return new H2Sessions({
    ...timeouts,
    admission,
    handler: (req, res) => {
      void handleRequest(deps, req, res);
    },
    rejected: (code) => deps.metrics.traffic.rejected(code),
  });
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)/i;

/**
 * Runs one client request through the lifecycle on the snapshot current when it arrived, whichever
 * protocol carried it (HTTP/1.1 on either port, an HTTP/2 stream).
 */
export async function handleRequest(deps: GatewayDeps, req: GatewayRequest, res: GatewayResponse): Promise<void> {
  // First, so it holds whatever the gateway answers.
  if (deps.draining()) res.keepAlive = false;
  const snapshot = deps.holder.acquire();
  if (snapshot === null) {
    answerGatewayError(res, 'NOT_READY');
    return;
  }
  let url = req.url;
  let host = req.headers.host;
  // What the node is told in X-Forwarded-Host: the host routed by, as sent (the parsers checked Host).
  let forwardedHost = host;
  if (url.charCodeAt(0) !== 47 /* / */) {
    // Absolute-form (RFC 9112 §3.2.2): the target's authority is the host, whatever Host says.
    const abs = ABSOLUTE_FORM.exec(url);
    if (abs !== null) {
      host = abs[1]!.slice(abs[1]!.lastIndexOf('@') + 1);
      url = abs[2]!.charCodeAt(0) === 47 ? abs[2]! : `/${abs[2]!}`;
      // The target's authority is checked only for its characters (`a.test,b.test` passes).
      forwardedHost = isValidHost(host) ? host : undefined;
    }
  }
  const q = url.indexOf('?');
  const path = normalizePath(q < 0 ? url : url.slice(0, q));
  const peer = req.remoteAddress;
  const ctx = new RequestContext(
    req,
    res,
    snapshot,
    path ?? '/',
    q < 0 ? '' : url.slice(q + 1),
    hostOf(host),
    deps.clientIp(peer, req.headers['x-forwarded-for']),
  );
  if (forwardedHost !== undefined && forwardedHost !== '') ctx.forwardedHost = forwardedHost;
  if (deps.httpsPort !== null) ctx.httpsPort = deps.httpsPort;
  ctx.tunnels = deps.tunnels;
  ctx.bodyTimeoutMs = deps.clientBodyTimeoutMs;
  try {
    if (path !== null && url.charCodeAt(0) === 47 /* / */) await runLifecycle(ctx);
    else {
      ctx.fail('ROUTE_NOT_FOUND');
      respondStage(ctx);
    }
  } finally {
    deps.holder.release(snapshot);
    logStage(ctx, deps);
  }
}
