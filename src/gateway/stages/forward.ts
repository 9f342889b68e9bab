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

/** The path and query sent to the node: the API's prefix stripped if asked, the node's base path in front. */
export function upstreamPath(ctx: RequestContext): string {
  const api = ctx.api!;
  let path = ctx.path;
  if (api.strip !== '') path = path.slice(api.strip.length) || '/';
  path = ctx.node!.target.basePath + path;
  return ctx.rawQuery === '' ? path : `${path}?${ctx.rawQuery}`;
}

/** The client's headers as the node gets them: hop-by-hop ones dropped, Host the node's, X-Forwarded-* set. */
export function forwardHeaders(ctx: RequestContext, node: CompiledNode): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  let connectionTokens: string | undefined;
  let priorForwardedFor: string | undefined;
  let host = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (HOP_BY_HOP(name)) {
      if (sameName(name, 'connection'))
        connectionTokens = connectionTokens === undefined ? raw[i + 1] : `${connectionTokens}, ${raw[i + 1]}`;
      else if (sameName(name, 'x-forwarded-for'))
        priorForwardedFor = priorForwardedFor ? `${priorForwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      else if (sameName(name, 'host')) host = raw[i + 1]!;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (connectionTokens !== undefined) dropConnectionOptions(out, connectionTokens);
  const peer = ctx.req.remoteAddress;
  out.push(
    'host',
    node.target.origin.slice(node.target.origin.indexOf('//') + 2),
    'x-forwarded-for',
    priorForwardedFor ? `${priorForwardedFor}, ${peer}` : peer,
    'x-forwarded-proto',
    ctx.req.tls ? 'https' : 'http',
    'x-forwarded-host',
    host,
  );
  return out;
}
