import type { CompiledConsumer } from '../access/consumers.js';
import type { BalanceNode } from '../balance/algorithms/algorithm.js';
import type { CompiledApi, CompiledNode, Snapshot } from '../snapshot/snapshot.js';
import type { SelectorErrorKind } from '../selector/types.js';
import type { GatewayErrorCode } from './errors.js';
import type { GatewayRequest, GatewayResponse } from './exchange.js';
import type { TunnelRegistry } from './upgrade/tunnel.js';

/** Why a try was retried on another node: connect failure, refusal by the node's wait queue (full or timed out), response-headers timeout, reset before the response, a listed status. */
export type RetryReason = 'connect' | 'queue' | 'timeout' | 'reset' | 'status';

/** How the selector stage went for one request (for the log line and metrics). */
export type SelectorOutcomeTag = 'none' | 'ok' | 'empty' | `error:${SelectorErrorKind}`;

/**
 * The one typed context every stage reads and writes (APISIX `ctx`, Envoy `LoadBalancerContext`).
 * A class so every request has the same shape (monomorphic property access on the hot path).
 */
export class RequestContext {
  readonly startedAt = performance.now();
  /** Path without query, dot segments resolved. */
  path: string;
  /** Everything after `?` (without it), or ''. */
  rawQuery: string;
  readonly method: string;
  /** The host routed by, without port, lower-cased: the absolute-form target's authority, else the Host header. */
  host: string;
  /**
   * The host routed by as the client sent it (port included): what the node is told in
   * X-Forwarded-Host; null when the request named none (HTTP/1.0 without Host).
   */
  forwardedHost: string | null = null;
  clientIp: string;
  /** Key for hashing algorithms. */
  hashKey: string;

  api: CompiledApi | null = null;
  /** Candidates after the selector (the list the algorithm and retries pick from). */
  candidates: readonly CompiledNode[] = [];
  node: CompiledNode | null = null;
  /** Indices (in the API's catalog) of nodes tried so far. */
  readonly tried: number[] = [];
  /** Why each retry happened, in order (`tried.length - 1` entries once the proxy is done). */
  readonly retryReasons: RetryReason[] = [];
  /** A retry was not made because the API's retry budget was spent. */
  retryRefused = false;
  /** True when every candidate was unhealthy and the API's panic mode sent the request to all of them. */
  panic = false;
  /** The request body when it was read into memory (for the selector, and so retries can resend it). */
  body: Buffer | null = null;
  /** Longest pause while that body is read (`--client-body-timeout-ms`), ms. */
  bodyTimeoutMs = 60_000;

  /** The consumer the access stage authenticated (null: none, or anonymous). */
  consumer: CompiledConsumer | null = null;
  /** Headers the access stage adds to whatever answer this request gets (CORS, RateLimit-*, WWW-Authenticate), `[name, value, …]`. */
  responseHeaders: string[] | null = null;

  selectorOutcome: SelectorOutcomeTag = 'none';
  selectorUs = 0;

  errorCode: GatewayErrorCode | null = null;
  /** `Allow` header for 405. */
  allow: string | null = null;
  /** Where a plain-HTTP request to an API with `httpsRedirect` is sent (the respond stage answers 301/308). */
  redirect: string | null = null;
  /** The gateway's TLS port, for those redirects (443 when this gateway has none: TLS ends in front of it). */
  httpsPort = 443;
  /** This process's open upgraded connections, where an upgrade request's tunnel goes. */
  tunnels: TunnelRegistry | null = null;
  /** Status sent to the client (0 until sent). */
  status = 0;
  /** Time until the upstream's response headers, in ms (0 when no upstream answered). */
  upstreamMs = 0;
  /** Last upstream error's code, for the log. */
  upstreamError: string | null = null;
  /** Aborts the upstream exchange when the client goes away (set once per request by the proxy). */
  aborter: (() => void) | null = null;

  constructor(
    readonly req: GatewayRequest,
    readonly res: GatewayResponse,
    readonly snapshot: Snapshot,
    path: string,
    rawQuery: string,
    host: string,
    clientIp: string,
  ) {
    this.method = req.method;
    this.path = path;
    this.rawQuery = rawQuery;
    this.host = host;
    this.clientIp = clientIp;
    this.hashKey = clientIp;
  }

  /** In-flight requests to a node of this process (what `least_conn` weighs). */
  inFlight(node: BalanceNode): number {
    return (node as CompiledNode).health.inFlight;
  }

  /** Records a gateway error; the respond stage turns it into the response. */
  fail(code: GatewayErrorCode): void {
    this.errorCode = code;
  }
}
