import type { CompiledApi, Router } from './snapshot.js';

interface PathTable {
  readonly exact: Map<string, CompiledApi[]>;
  /** Longest prefix first; a prefix `p` matches `p` itself and `p/…`; `''` (from `/*`) matches all. */
  readonly prefixes: Array<{ prefix: string; apis: CompiledApi[] }>;
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
          if (
            path.startsWith(prefix) &&
            (path.length === prefix.length || path.charCodeAt(prefix.length) === 47) /* / */
          ) {
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
