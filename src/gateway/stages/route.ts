import type { RequestContext } from '../context.js';

/** Lower-cased host without port, from the Host header. */
export function hostOf(header: string | undefined): string {
  if (!header) return '';
  if (header.charCodeAt(0) === 91 /* [ */) {
    const end = header.indexOf(']');
    return (end > 0 ? header.slice(0, end + 1) : header).toLowerCase();
  }
  const colon = header.indexOf(':');
  return (colon >= 0 ? header.slice(0, colon) : header).toLowerCase();
}

// A dot segment that some server would see once it decodes `%2F` or `%5C`, or treats `\` as `/`.
const HIDDEN_DOT_SEGMENT = /(?:^|[/\\]|%2f|%5c)\.{1,2}(?:$|[/\\]|%2f|%5c)/i;

/**
 * Resolves `.` and `..` segments (RFC 3986 §5.2.4) so `/public/../admin` cannot reach a route it does
 * not name; null when the path climbs above the root. `%2E` is a dot (RFC 3986 §6.2.2.2), so
 * `/public/%2e%2e/admin` is `/admin` too; a dot segment that only a backslash, `%2F` or `%5C` delimits
 * (`/public/..%2Fadmin`, which a node that decodes them resolves past the route) is null as well.
 * Only paths holding `/.`, `%` or a backslash pay for it.
 */
export function normalizePath(path: string): string | null {
  if (path.includes('%') || path.includes('\\')) {
    path = path.replace(/%2e/gi, '.');
    const resolved = path.includes('/.') ? resolveDots(path) : path;
    return resolved === null || HIDDEN_DOT_SEGMENT.test(resolved) ? null : resolved;
  }
  return path.includes('/.') ? resolveDots(path) : path;
}

function resolveDots(path: string): string | null {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '.') {
      if (i === segments.length - 1) out.push('');
    } else if (s === '..') {
      if (out.length === 0) return null;
      out.pop();
      if (i === segments.length - 1) out.push('');
    } else out.push(s);
  }
  return '/' + out.join('/');
}

/** Stage 1 — route: match host, method and path to an API (404 or 405 when none). */
export function routeStage(ctx: RequestContext): boolean {
  const match = ctx.snapshot.router.lookup(ctx.host, ctx.path, ctx.method);
  if (match.api === null) {
    if (match.allowed) {
      ctx.allow = match.allowed.join(', ');
      ctx.fail('METHOD_NOT_ALLOWED');
    } else ctx.fail('ROUTE_NOT_FOUND');
    return false;
  }
  ctx.api = match.api;
  if (match.api.api.httpsRedirect && !ctx.req.tls) {
    ctx.redirect = httpsLocation(ctx);
    return false;
  }
  return true;
}

/** The https URL of a plain request: its host, the gateway's TLS port, its (normalized) path and query. */
function httpsLocation(ctx: RequestContext): string {
  const port = ctx.httpsPort === 443 ? '' : `:${ctx.httpsPort}`;
  return `https://${ctx.host}${port}${ctx.path}${ctx.rawQuery === '' ? '' : `?${ctx.rawQuery}`}`;
}
