import { z } from 'zod';
import { ApiAccess, NO_ACCESS } from './access.js';
import { ApiHealth, ApiHealthPatch } from './health.js';
import { HttpMethod } from './method.js';
import { RetryPolicy, RetryPolicyPatch } from './retry.js';
import { SelectorConfig } from './selector.js';
import { DisplayName } from './text.js';

export { HttpMethod } from './method.js';

/** Algorithms the balance stage can pick a node with (the keys of `src/balance/algorithms/`). */
export const AlgorithmName = z.enum(['ip_hash', 'round_robin', 'weighted', 'least_conn', 'hash']);
export type AlgorithmName = z.infer<typeof AlgorithmName>;

/** Where the `hash` algorithm reads its key; a request without it hashes its client IP instead. */
export const HashOn = z.strictObject({
  source: z.enum(['header', 'query', 'cookie']),
  /** Header (case-insensitive), query parameter or cookie name. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/, "must be 1–256 token characters (letters, digits, !#$%&'*+.^_`|~-)"),
});
export type HashOn = z.infer<typeof HashOn>;

/** A route path: exact (`/a/b`) or prefix (`/a/*`, which also matches `/a`; `/*` matches all). */
export const RoutePath = z
  .string()
  .max(1024)
  .regex(
    /^\/([A-Za-z0-9._~!$&'()+,;=:@%-]+\/?)*(\*)?$/,
    'must start with / and contain only URL path characters; a trailing /* makes it a prefix',
  )
  .refine(
    (p) => !p.includes('//') && (!p.includes('*') || p.endsWith('/*')),
    'a * is allowed only as the last segment (/a/*)',
  );

/** A host name to match against the request's Host header (without port); `*.example.com` matches subdomains. */
export const RouteHost = z
  .string()
  .toLowerCase()
  .max(253)
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'must be a host name, optionally starting with *.',
  );

const timeoutFields = {
  /** TCP (and TLS) connect to a node. */
  connectMs: z.number().int().min(1).max(60_000),
  /** From sending the request until the response headers arrive. */
  headersMs: z.number().int().min(1).max(600_000),
  /** Longest pause between two chunks of the response body. */
  bodyMs: z.number().int().min(1).max(600_000),
  /** An upgraded connection (WebSocket) with no byte either way for this long is closed. */
  upgradeIdleMs: z.number().int().min(1_000).max(86_400_000),
};

/** Per-API upstream timeouts, in milliseconds. */
export const ApiTimeouts = z.strictObject({
  connectMs: timeoutFields.connectMs.default(3_000),
  headersMs: timeoutFields.headersMs.default(30_000),
  bodyMs: timeoutFields.bodyMs.default(60_000),
  upgradeIdleMs: timeoutFields.upgradeIdleMs.default(300_000),
});
export type ApiTimeouts = z.infer<typeof ApiTimeouts>;

// Without defaults: zod 4 applies a default even inside .partial(), which would reset the
// timeouts a PATCH leaves out instead of keeping the current ones.
const ApiTimeoutsPatch = z.strictObject(timeoutFields).partial();

const apiFields = {
  name: z.string().trim().min(1).max(100),
  host: RouteHost.nullable(),
  methods: z
    .array(HttpMethod)
    .min(1)
    .transform((m) => [...new Set(m)]),
  path: RoutePath,
  /** Remove the route's prefix (the part before `/*`) from the path sent upstream. */
  stripPrefix: z.boolean(),
  algorithm: AlgorithmName,
  timeouts: ApiTimeouts,
  /** Extra tries, each on a node not tried yet (so at most nodes − 1); `retry` says which failures. */
  retries: z.number().int().min(0).max(10),
  retry: RetryPolicy,
  health: ApiHealth,
  /** The key of the `hash` algorithm (required with it, ignored by the others). */
  hashOn: HashOn.nullable(),
  /** Largest request body accepted (413 above it). */
  maxBodyBytes: z
    .number()
    .int()
    .min(0)
    .max(1024 * 1024 * 1024),
  selector: SelectorConfig.nullable(),
  /** Plain-HTTP requests get a 308 to the same URL on https (the TLS port); TLS requests are served. */
  httpsRedirect: z.boolean(),
  /** Authentication, consumers, rate limits, IP lists and CORS (the access stage); replaced whole on PATCH. */
  access: ApiAccess,
};

const defaults = {
  host: null,
  methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as HttpMethod[],
  stripPrefix: false,
  retries: 1,
  maxBodyBytes: 10 * 1024 * 1024,
  selector: null,
  hashOn: null,
  httpsRedirect: false,
};

/** Checks across fields, on every form an API is written or read in. */
function crossChecks(
  api: { algorithm?: AlgorithmName | undefined; hashOn?: HashOn | null | undefined },
  ctx: z.RefinementCtx,
): void {
  if (api.algorithm === 'hash' && !api.hashOn) {
    ctx.addIssue({
      code: 'custom',
      path: ['hashOn'],
      message: 'is required with algorithm "hash" ({"source": "header"|"query"|"cookie", "name": ...})',
    });
  }
}

/** Body of `POST /admin/apis`: `name`, `path` and `algorithm` are required, the rest has defaults. */
export const ApiCreate = z
  .strictObject({
    ...apiFields,
    name: DisplayName,
    host: apiFields.host.default(defaults.host),
    methods: apiFields.methods.default(defaults.methods),
    stripPrefix: apiFields.stripPrefix.default(defaults.stripPrefix),
    timeouts: ApiTimeouts.default(ApiTimeouts.parse({})),
    retries: apiFields.retries.default(defaults.retries),
    maxBodyBytes: apiFields.maxBodyBytes.default(defaults.maxBodyBytes),
    selector: apiFields.selector.default(defaults.selector),
    retry: RetryPolicy.default(() => RetryPolicy.parse({})),
    health: ApiHealth.default(() => ApiHealth.parse({})),
    hashOn: apiFields.hashOn.default(defaults.hashOn),
    httpsRedirect: apiFields.httpsRedirect.default(defaults.httpsRedirect),
    access: ApiAccess.default(NO_ACCESS),
  })
  .superRefine(crossChecks);
export type ApiCreate = z.infer<typeof ApiCreate>;

/** Body of `PATCH /admin/apis/:id`: any subset; `timeouts`, `retry` and `health` may be partial (they merge). */
export const ApiPatch = z
  .strictObject({
    ...apiFields,
    name: DisplayName,
    timeouts: ApiTimeoutsPatch,
    retry: RetryPolicyPatch,
    health: ApiHealthPatch,
  })
  .partial();
export type ApiPatch = z.infer<typeof ApiPatch>;

/** A published endpoint, as stored and returned (nodes are listed separately). */
export const Api = z
  .object({
    id: z.string(),
    ...apiFields,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .superRefine(crossChecks);
export type Api = z.infer<typeof Api>;
