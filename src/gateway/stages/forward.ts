import { dropConnectionOptions, headerNameSet, sameName } from '../../http/header-names.js';
import type { CompiledNode } from '../../snapshot/snapshot.js';
import type { RequestContext } from '../context.js';

// What the node is sent besides the body: the path it is asked for and the headers it gets (shared by
// the proxy stage and upgrades).

// Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded; host is set to the node's, and the
// X-Forwarded-* ones are the gateway's to set.
const HOP_BY_HOP = headerNameSet([
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

/**
 * Whether a header names the consumer to the node (Kong's and APISIX's names, which nodes written for
 * them trust): on an API with authentication only the gateway sets these, so a client's are dropped.
 */
function namesConsumer(name: string): boolean {
  const n = name.length;
  if (n > 11 && name.slice(0, 11).toLowerCase() === 'x-consumer-') return true;
  return (n === 23 || n === 20) && /^x-(credential-identifier|anonymous-consumer)$/i.test(name);
}

/** The headers naming the authenticated consumer (or an anonymous caller) to the node. */
function consumerHeaders(ctx: RequestContext, out: string[]): void {
  const consumer = ctx.consumer;
  if (consumer === null) {
    out.push('x-anonymous-consumer', 'true');
    return;
  }
  out.push('x-consumer-id', consumer.id, 'x-consumer-username', consumer.name);
  if (consumer.tags.length > 0) out.push('x-consumer-groups', consumer.tags.join(', '));
}

/** The path and query sent to the node: the API's prefix stripped if asked, the node's base path in front. */
export function upstreamPath(ctx: RequestContext): string {
  const api = ctx.api!;
  let path = ctx.path;
  if (api.strip !== '') path = path.slice(api.strip.length) || '/';
  path = ctx.node!.target.basePath + path;
  return ctx.rawQuery === '' ? path : `${path}?${ctx.rawQuery}`;
}

/**
 * The headers the node gets: the gateway's own first (Host the node's, X-Forwarded-For/-Proto, and
 * X-Forwarded-Host when the request named a host, and on an API with authentication the consumer:
 * X-Consumer-Id, -Username and -Groups, or X-Anonymous-Consumer), so a node that keeps only its first
 * N headers (node:http keeps 2000) still sees them; then the client's, hop-by-hop ones dropped (and on
 * an API with authentication any the client wrote naming a consumer).
 */
export function forwardHeaders(ctx: RequestContext, node: CompiledNode): string[] {
  const raw = ctx.req.rawHeaders;
  const origin = node.target.origin;
  const out: string[] = [
    'host',
    origin.slice(origin.indexOf('//') + 2),
    'x-forwarded-for',
    '', // set below, once the client's X-Forwarded-For is read
    'x-forwarded-proto',
    ctx.req.tls ? 'https' : 'http',
  ];
  if (ctx.forwardedHost !== null) out.push('x-forwarded-host', ctx.forwardedHost);
  const authenticates = (ctx.api!.access?.auth ?? null) !== null;
  if (authenticates) consumerHeaders(ctx, out);
  const own = out.length;
  let connectionTokens: string | undefined;
  let priorForwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (HOP_BY_HOP(name)) {
      if (sameName(name, 'connection'))
        connectionTokens = connectionTokens === undefined ? raw[i + 1] : `${connectionTokens}, ${raw[i + 1]}`;
      else if (sameName(name, 'x-forwarded-for'))
        priorForwardedFor = priorForwardedFor ? `${priorForwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      continue;
    }
    if (authenticates && namesConsumer(name)) continue;
    out.push(name, raw[i + 1]!);
  }
  // The gateway's own headers, before `own`, stay whatever Connection names.
  if (connectionTokens !== undefined) dropConnectionOptions(out, connectionTokens, undefined, own);
  const peer = ctx.req.remoteAddress;
  out[3] = priorForwardedFor ? `${priorForwardedFor}, ${peer}` : peer;
  return out;
}
