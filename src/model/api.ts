import { z } from 'zod';
import { SelectorConfig } from './selector.js';

/** Methods an API can accept. */
export const HttpMethod = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
export type HttpMethod = z.infer<typeof HttpMethod>;

/** Algorithms the balance stage can pick a node with (the keys of `src/balance/algorithms/`). */
export const AlgorithmName = z.enum(['ip_hash', 'round_robin', 'weighted']);
export type AlgorithmName = z.infer<typeof AlgorithmName>;

/** A route path: exact (`/a/b`) or prefix (`/a/*`, which also matches `/a`; `/*` matches all). */
export const RoutePath = z
  .string()
  .max(1024)
  .regex(/^\/([A-Za-z0-9._~!$&'()+,;=:@%-]+\/?)*(\*)?$/, 'must start with / and contain only URL path characters; a trailing /* makes it a prefix')
  .refine((p) => !p.includes('//') && (!p.includes('*') || p.endsWith('/*')), 'a * is allowed only as the last segment (/a/*)');

/** A host name to match against the request's Host header (without port); `*.example.com` matches subdomains. */
export const RouteHost = z
  .string()
  .toLowerCase()
  .max(253)
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a host name, optionally starting with *.');

const timeoutFields = {
  /** TCP (and TLS) connect to a node. */
  connectMs: z.number().int().min(1).max(60_000),
  /** From sending the request until the response headers arrive. */
  headersMs: z.number().int().min(1).max(600_000),
  /** Longest pause between two chunks of the response body. */
  bodyMs: z.number().int().min(1).max(600_000),
};

/** Per-API upstream timeouts, in milliseconds. */
export const ApiTimeouts = z.strictObject({
  connectMs: timeoutFields.connectMs.default(3_000),
  headersMs: timeoutFields.headersMs.default(30_000),
  bodyMs: timeoutFields.bodyMs.default(60_000),
});
export type ApiTimeouts = z.infer<typeof ApiTimeouts>;

// Without defaults: zod 4 applies a default even inside .partial(), which would reset the
// timeouts a PATCH leaves out instead of keeping the current ones.
const ApiTimeoutsPatch = z.strictObject(timeoutFields).partial();

const apiFields = {
  name: z.string().trim().min(1).max(100),
  host: RouteHost.nullable(),
  methods: z.array(HttpMethod).min(1).transform((m) => [...new Set(m)]),
  path: RoutePath,
  /** Remove the route's prefix (the part before `/*`) from the path sent upstream. */
  stripPrefix: z.boolean(),
  algorithm: AlgorithmName,
  timeouts: ApiTimeouts,
  /** Extra tries on another not-yet-tried node after a connect failure. */
  retries: z.number().int().min(0).max(10),
  /** Largest request body accepted (413 above it). */
  maxBodyBytes: z.number().int().min(0).max(1024 * 1024 * 1024),
  selector: SelectorConfig.nullable(),
};

const defaults = {
  host: null,
  methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as HttpMethod[],
  stripPrefix: false,
  retries: 1,
  maxBodyBytes: 10 * 1024 * 1024,
  selector: null,
};

/** Body of `POST /admin/apis`: `name`, `path` and `algorithm` are required, the rest has defaults. */
export const ApiCreate = z.strictObject({
  ...apiFields,
  host: apiFields.host.default(defaults.host),
  methods: apiFields.methods.default(defaults.methods),
  stripPrefix: apiFields.stripPrefix.default(defaults.stripPrefix),
  timeouts: ApiTimeouts.default(ApiTimeouts.parse({})),
  retries: apiFields.retries.default(defaults.retries),
  maxBodyBytes: apiFields.maxBodyBytes.default(defaults.maxBodyBytes),
  selector: apiFields.selector.default(defaults.selector),
});
export type ApiCreate = z.infer<typeof ApiCreate>;

/** Body of `PATCH /admin/apis/:id`: any subset; `timeouts` may be partial. */
export const ApiPatch = z
  .strictObject({ ...apiFields, timeouts: ApiTimeoutsPatch })
  .partial();
export type ApiPatch = z.infer<typeof ApiPatch>;

/** A published endpoint, as stored and returned (nodes are listed separately). */
export const Api = z.object({
  id: z.string(),
  ...apiFields,
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Api = z.infer<typeof Api>;
