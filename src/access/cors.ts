import type { CorsConfig } from '../model/access.js';

/** What CORS decided for a request (Fetch standard, "CORS protocol"). */
export type CorsVerdict =
  /** No `Origin` header: not a cross-origin browser request; nothing to add. */
  | 'none'
  /** A preflight the gateway answers 204 with the headers. */
  | 'preflight'
  /** A preflight for an origin, method or header not allowed: 403 CORS_FORBIDDEN. */
  | 'preflight-refused'
  /** An actual request from an allowed origin: its answer gets the headers. */
  | 'allowed'
  /** An actual request from another origin: served without CORS headers, so the browser withholds the answer. */
  | 'origin-not-allowed';

/** An API's CORS config, compiled. */
export interface CompiledCors {
  /** The verdict, and the response headers (`[name, value, …]`) it calls for. */
  decide(
    method: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): { verdict: CorsVerdict; headers: string[] };
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Compiles a CORS config; `apiMethods` are allowed when the config names none. */
export function compileCors(cors: CorsConfig, apiMethods: readonly string[]): CompiledCors {
  const any = cors.origins.includes('*');
  const exact = new Set(cors.origins.filter((o) => !o.includes('*')));
  // `https://*.example.com` → scheme `https://` and suffix `.example.com` (with an optional port after).
  const wildcards = cors.origins
    .filter((o) => o.includes('://*.'))
    .map((o) => ({ scheme: o.slice(0, o.indexOf('*')), suffix: o.slice(o.indexOf('*') + 1) }));
  const methods = cors.methods.length > 0 ? cors.methods : apiMethods;
  const allowMethods = methods.join(', ');
  const allowHeaders = new Set(cors.headers);
  const allowHeadersText = cors.headers.join(', ');
  const expose = cors.exposeHeaders.join(', ');
  const originAllowed = (origin: string): boolean => {
    if (any) return true;
    const lower = origin.toLowerCase();
    if (exact.has(lower)) return true;
    return wildcards.some((w) => {
      if (!lower.startsWith(w.scheme)) return false;
      const host = lower.slice(w.scheme.length).replace(/:\d+$/, '');
      return host.endsWith(w.suffix) && host.length > w.suffix.length;
    });
  };
  // With credentials the origin is echoed (browsers refuse `*` then); a list of origins is echoed too.
  // Then the answer depends on Origin: every answer says so, with or without CORS headers (Fetch
  // standard, "CORS protocol and HTTP caches"), or a cache could serve one origin's answer to another.
  const varies = !any || cors.credentials;
  const byOrigin: string[] = varies ? ['vary', 'Origin'] : [];
  const originHeaders = (origin: string): string[] => {
    const out = ['access-control-allow-origin', any && !cors.credentials ? '*' : origin];
    if (varies) out.push('vary', 'Origin');
    if (cors.credentials) out.push('access-control-allow-credentials', 'true');
    return out;
  };
  return {
    decide(method, headers) {
      const origin = one(headers['origin']);
      if (origin === undefined) return { verdict: 'none', headers: [...byOrigin] };
      const requested = one(headers['access-control-request-method']);
      if (method === 'OPTIONS' && requested !== undefined) {
        const wanted = (one(headers['access-control-request-headers']) ?? '')
          .split(',')
          .map((h) => h.trim().toLowerCase())
          .filter((h) => h !== '');
        if (
          !originAllowed(origin) ||
          !methods.includes(requested) ||
          !wanted.every((h) => allowHeaders.has(h) || SAFELISTED.has(h))
        ) {
          return { verdict: 'preflight-refused', headers: [...byOrigin] };
        }
        const out = originHeaders(origin);
        out.push('access-control-allow-methods', allowMethods, 'access-control-max-age', String(cors.maxAgeSec));
        if (allowHeadersText !== '') out.push('access-control-allow-headers', allowHeadersText);
        return { verdict: 'preflight', headers: out };
      }
      if (!originAllowed(origin)) return { verdict: 'origin-not-allowed', headers: [...byOrigin] };
      const out = originHeaders(origin);
      if (expose !== '') out.push('access-control-expose-headers', expose);
      return { verdict: 'allowed', headers: out };
    },
  };
}

// CORS-safelisted request headers need no permission (Fetch standard).
const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range']);
