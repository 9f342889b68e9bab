import type { Dispatcher } from 'undici';
import type { CompiledNode } from '../../snapshot/snapshot.js';
import type { RequestContext } from '../context.js';
import type { GatewayErrorCode } from '../errors.js';
import { hasBody } from './access.js';
import { pickNext } from './balance.js';

// Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded; host is set to the node's.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

// Errors that mean the request never reached the node, so another node may be tried.
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Stage 4 — proxy: forwards the request to the picked node through its keep-alive pool, streaming
 * both bodies. On a connect failure it tries another node not tried yet, at most `retries` times.
 */
export function proxyStage(ctx: RequestContext): Promise<boolean> {
  return new Promise((resolve) => attempt(ctx, resolve));
}

function attempt(ctx: RequestContext, done: (ok: boolean) => void): void {
  const node = ctx.node!;
  const api = ctx.api!.api;
  const streamed = ctx.body === null && hasBody(ctx);
  const handler = new ProxyHandler(ctx, node, (err) => {
    const code = errorCode(err);
    ctx.upstreamError = code;
    if (!CONNECT_ERRORS.has(code)) ctx.fail(timeoutOrError(code));
    else {
      // A streamed body may already be consumed, so only requests without one (or buffered) are retried.
      if (!streamed && ctx.tried.length <= api.retries) {
        const next = pickNext(ctx);
        if (next !== null) {
          ctx.node = next;
          attempt(ctx, done);
          return;
        }
      }
      const allTried = ctx.tried.length > 1 && ctx.candidates.every((n) => ctx.tried.includes(n.index));
      ctx.fail(allTried ? 'ALL_NODES_TRIED' : 'UPSTREAM_CONNECT_FAILED');
    }
    done(false);
  }, done);
  const target = node.target;
  node.pool.dispatch(
    {
      origin: target.origin,
      method: ctx.method as Dispatcher.HttpMethod,
      path: upstreamPath(ctx),
      headers: forwardHeaders(ctx, node),
      body: ctx.body ?? (streamed ? ctx.req : null),
      headersTimeout: api.timeouts.headersMs,
      bodyTimeout: api.timeouts.bodyMs,
    },
    handler,
  );
}

function timeoutOrError(code: string): GatewayErrorCode {
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR';
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

function upstreamPath(ctx: RequestContext): string {
  const api = ctx.api!;
  let path = ctx.path;
  if (api.strip !== '') path = path.slice(api.strip.length) || '/';
  path = ctx.node!.target.basePath + path;
  return ctx.rawQuery === '' ? path : `${path}?${ctx.rawQuery}`;
}

function forwardHeaders(ctx: RequestContext, node: CompiledNode): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  let connectionTokens: string | undefined;
  let priorForwardedFor: string | undefined;
  let host = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.length <= 17 ? name.toLowerCase() : name; // every hop-by-hop name is ≤ 17 chars
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') connectionTokens = raw[i + 1];
      else if (lower === 'x-forwarded-for') priorForwardedFor = priorForwardedFor ? `${priorForwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      else if (lower === 'host') host = raw[i + 1]!;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (connectionTokens !== undefined) dropConnectionTokens(out, connectionTokens);
  const peer = ctx.req.socket.remoteAddress ?? '';
  out.push(
    'host',
    node.target.origin.slice(node.target.origin.indexOf('//') + 2),
    'x-forwarded-for',
    priorForwardedFor ? `${priorForwardedFor}, ${peer}` : peer,
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    host,
  );
  return out;
}

// Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
function dropConnectionTokens(headers: string[], tokens: string): void {
  const names = new Set(tokens.split(',').map((t) => t.trim().toLowerCase()));
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (names.has(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}

/** undici's raw dispatch handler: streams the node's response into the client's, with backpressure. */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private abort: ((err?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private started = false;
  private finished = false;

  constructor(
    private readonly ctx: RequestContext,
    private readonly node: CompiledNode,
    private readonly onFailureBeforeHeaders: (err: Error) => void,
    private readonly done: (ok: boolean) => void,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    const res = this.ctx.res;
    if (res.destroyed) abort(new Error('client went away'));
    else if (!this.ctx.aborter) {
      this.ctx.aborter = () => {
        if (!this.finished) this.abort?.(new Error('client went away'));
      };
      res.once('close', () => this.ctx.aborter?.());
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: wait for the final response
    const ctx = this.ctx;
    ctx.upstreamMs = performance.now() - ctx.startedAt;
    ctx.node = this.node;
    this.started = true;
    const out: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (!RESPONSE_HOP_BY_HOP.has(name.toLowerCase())) out.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    const res = ctx.res;
    ctx.status = statusCode;
    res.writeHead(statusCode, out);
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.ctx.res;
    if (res.write(chunk)) return true;
    // Backpressure: undici pauses the upstream until the client's socket drains.
    res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    this.finished = true;
    this.ctx.res.end();
    this.done(true);
  }

  onError(err: Error): void {
    this.finished = true;
    if (!this.started) {
      if (this.ctx.res.destroyed) {
        this.ctx.upstreamError = 'CLIENT_ABORTED';
        this.done(false);
        return;
      }
      this.onFailureBeforeHeaders(err);
      return;
    }
    // Headers are out: the only honest signal left is to cut the client's connection.
    this.ctx.upstreamError = errorCode(err);
    this.ctx.res.destroy(err);
    this.done(false);
  }
}
