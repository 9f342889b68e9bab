import type { CompiledApi } from '../../snapshot/snapshot.js';
import type { RequestContext } from '../context.js';

/** The outcome of a route lookup. */
export type RouteMatch =
  | { readonly api: CompiledApi }
  | { readonly api: null; readonly allowed: readonly string[] | null };

interface PathTable {
  readonly exact: Map<string, CompiledApi[]>;
  /** Longest prefix first; a prefix `p` matches `p` itself and `p/…`; `''` (from `/*`) matches all. */
  readonly prefixes: Array<{ prefix: string; apis: CompiledApi[] }>;
}

/** Host → path tables, compiled once per snapshot. */
export interface Router {
  lookup(host: string, path: string, method: string): RouteMatch;
}

function newTable(): PathTable {
  return { exact: new Map(), prefixes: [] };
}

function addToTable(table: PathTable, api: CompiledApi): void {
  const path = api.api.path;
  if (path.endsWith('*')) {
    const prefix = path.slice(0, -2); // '/a/*' → '/a', '/*' → ''
    let entry = table.prefixes.find((p) => p.prefix === prefix);
    if (!entry) table.prefixes.push((entry = { prefix, apis: [] }));
    entry.apis.push(api);
  } else {
    const list = table.exact.get(path);
    if (list) list.push(api);
    else table.exact.set(path, [api]);
  }
}

/** Builds the router. Priority: exact host, then wildcard hosts (longest first), then APIs without host; within one, exact path before longest prefix. */
export function compileRouter(apis: Iterable<CompiledApi>): Router {
  const exactHosts = new Map<string, PathTable>();
  const wildcardHosts: Array<{ suffix: string; table: PathTable }> = [];
  const anyHost = newTable();
  for (const api of apis) {
    const host = api.api.host;
    if (host === null) addToTable(anyHost, api);
    else if (host.startsWith('*.')) {
      const suffix = host.slice(1); // '.example.com'
      let entry = wildcardHosts.find((w) => w.suffix === suffix);
      if (!entry) wildcardHosts.push((entry = { suffix, table: newTable() }));
      addToTable(entry.table, api);
    } else {
      let table = exactHosts.get(host);
      if (!table) exactHosts.set(host, (table = newTable()));
      addToTable(table, api);
    }
  }
  const byLength = (a: { prefix: string }, b: { prefix: string }) => b.prefix.length - a.prefix.length;
  for (const t of [anyHost, ...exactHosts.values(), ...wildcardHosts.map((w) => w.table)]) t.prefixes.sort(byLength);
  wildcardHosts.sort((a, b) => b.suffix.length - a.suffix.length);
  const hostAware = exactHosts.size > 0 || wildcardHosts.length > 0;

  return {
    lookup(host, path, method) {
      let allowed: string[] | null = null;
      const tryTable = (table: PathTable): CompiledApi | null => {
        const exact = table.exact.get(path);
        if (exact) {
          for (const api of exact) if (api.methods.has(method)) return api;
          allowed = collect(allowed, exact);
        }
        for (const { prefix, apis } of table.prefixes) {
          if (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */)) {
            for (const api of apis) if (api.methods.has(method)) return api;
            allowed = collect(allowed, apis);
          }
        }
        return null;
      };
      if (hostAware && host) {
        const t = exactHosts.get(host);
        const hit = t ? tryTable(t) : null;
        if (hit) return { api: hit };
        for (const w of wildcardHosts) {
          if (host.endsWith(w.suffix) && host.length > w.suffix.length) {
            const wildHit = tryTable(w.table);
            if (wildHit) return { api: wildHit };
          }
        }
      }
      const hit = tryTable(anyHost);
      return hit ? { api: hit } : { api: null, allowed };
    },
  };
}

function collect(into: string[] | null, apis: readonly CompiledApi[]): string[] {
  const out = into ?? [];
  for (const api of apis) for (const m of api.methods) if (!out.includes(m)) out.push(m);
  return out;
}

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

/**
 * Resolves `.` and `..` segments (RFC 3986 §5.2.4) so `/public/../admin` cannot reach a route it does
 * not name; null when the path climbs above the root. Only paths containing `/.` pay for it.
 */
export function normalizePath(path: string): string | null {
  if (!path.includes('/.')) return path;
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
