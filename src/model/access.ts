import { z } from 'zod';
import { HttpMethod } from './method.js';
import { Tag } from './node.js';

// An API's access config (lifecycle stage 2): who may call it (authentication, consumers, tags),
// how often (rate limits), from where (IP lists) and from which web origins (CORS). Every section
// is optional; an API without any costs nothing in the access stage.

/** A header name (case-insensitive; stored lower-cased). */
export const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, "must be 1–128 token characters (letters, digits, !#$%&'*+.^_`|~-)")
  .transform((s) => s.toLowerCase());

const QueryName = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1–128 of letters, digits, . _ ~ -');

/** A consumer name: what selectors see as `request.consumer.name`, logs show and limits key on. */
export const ConsumerName = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,99}$/,
    'must be 1–100 of letters, digits, _ . @ : - (starting with a letter or digit)',
  );

/** API key authentication: the key in a header and/or a query parameter. */
export const KeyAuth = z
  .strictObject({
    kind: z.literal('key'),
    header: HeaderName.nullable().default('x-api-key'),
    query: QueryName.nullable().default(null),
  })
  .refine((m) => m.header !== null || m.query !== null, {
    message: 'needs a header or a query parameter to read the key from',
    path: ['header'],
  });

/** HTTP Basic authentication (RFC 7617) against the consumers' usernames and hashed passwords. */
export const BasicAuth = z.strictObject({ kind: z.literal('basic') });

/** JWS algorithms a JWT method may accept (`none` never). */
export const JwtAlgorithm = z.enum([
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
]);
export type JwtAlgorithm = z.infer<typeof JwtAlgorithm>;

/**
 * A JWT bearer token (RFC 7519) in `Authorization: Bearer`. Verified with the keys of a JWKS URL, or
 * with the secret or public key of the consumer credential whose `subject` equals the token's `claim`.
 */
export const JwtAuth = z.strictObject({
  kind: z.literal('jwt'),
  /** Only these algorithms are accepted: a token naming another (or `none`) fails. */
  algorithms: z
    .array(JwtAlgorithm)
    .min(1)
    .max(12)
    .transform((a) => [...new Set(a)]),
  jwksUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .max(2048)
    .nullable()
    .default(null),
  /** Required `iss`, when set. */
  issuer: z.string().min(1).max(512).nullable().default(null),
  /** Required `aud` (one of the token's audiences), when set. */
  audience: z.string().min(1).max(512).nullable().default(null),
  /** The claim naming the consumer (its JWT credential's `subject`). */
  claim: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be a claim name')
    .default('sub'),
  /** Clock skew allowed on `exp` and `nbf`, in seconds. */
  clockToleranceSec: z.number().int().min(0).max(300).default(30),
  /**
   * When set, a token must carry `exp`, at most this many seconds ahead (Kong's `maximum_expiration`):
   * a token without `exp` would never expire, and one issued for a year outlives any revocation.
   */
  maxLifetimeSec: z.number().int().min(1).max(31_536_000).nullable().default(null),
});

/** No credential needed: a request without any passes as anonymous (an explicit choice, last in the list). */
export const AnonymousAuth = z.strictObject({ kind: z.literal('anonymous') });

/** One way to authenticate; tried in the order configured. */
export const AuthMethod = z.discriminatedUnion('kind', [KeyAuth, BasicAuth, JwtAuth, AnonymousAuth]);
export type AuthMethod = z.infer<typeof AuthMethod>;

/** The authentication kinds (the keys of `src/access/auth/`). */
export type AuthKind = AuthMethod['kind'];

/** Who may call the API. */
export const AuthConfig = z
  .strictObject({
    methods: z.array(AuthMethod).min(1).max(4),
    /** Pass the credential on to the node (by default the gateway strips it). */
    forwardCredentials: z.boolean().default(false),
    /** Only these consumers (by name)… */
    consumers: z.array(ConsumerName).max(1000).default([]),
    /** …or consumers with one of these tags may call; both empty: any authenticated consumer. */
    tags: z.array(Tag).max(32).default([]),
  })
  .superRefine((auth, ctx) => {
    const kinds = auth.methods.map((m) => m.kind);
    kinds.forEach((kind, i) => {
      if (kinds.indexOf(kind) !== i)
        ctx.addIssue({ code: 'custom', path: ['methods', i, 'kind'], message: `"${kind}" is listed twice` });
    });
    const anonymous = kinds.indexOf('anonymous');
    if (anonymous >= 0 && anonymous !== kinds.length - 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['methods', anonymous, 'kind'],
        message: 'anonymous must come last: it lets through what no method before it recognised',
      });
    }
  });
export type AuthConfig = z.infer<typeof AuthConfig>;

/** What a rate limit counts by. */
export const LimitKey = z.enum(['api', 'consumer', 'ip', 'header']);
export type LimitKey = z.infer<typeof LimitKey>;

/** The period a limit's rate is given in. */
export const LimitPeriod = z.enum(['second', 'minute', 'hour']);
export type LimitPeriod = z.infer<typeof LimitPeriod>;

/** Milliseconds per period. */
export const PERIOD_MS: Record<LimitPeriod, number> = { second: 1_000, minute: 60_000, hour: 3_600_000 };

/**
 * A token bucket per key: `rate` requests per `per` on average, of which up to `burst` (default
 * `rate`) may come at once. `local` counts in each gateway process; `cluster` shares the bucket
 * through Redis, and when Redis is unreachable each process falls back to `local` (`onRedisDown:
 * "open"`) or answers 503 (`"closed"`).
 */
export const RateLimit = z
  .strictObject({
    by: LimitKey,
    /** The header whose value is the key (with `by: "header"`). */
    header: HeaderName.nullable().default(null),
    rate: z.number().int().min(1).max(1_000_000_000),
    per: LimitPeriod,
    burst: z.number().int().min(1).max(1_000_000_000).nullable().default(null),
    policy: z.enum(['local', 'cluster']).default('local'),
    onRedisDown: z.enum(['open', 'closed']).default('open'),
    /** With `by` "ip" (and "consumer" for anonymous callers): IPv6 clients count by their network of this many bits. */
    ipv6Prefix: z.number().int().min(32).max(128).default(64),
  })
  .superRefine((limit, ctx) => {
    if (limit.by === 'header' && limit.header === null)
      ctx.addIssue({ code: 'custom', path: ['header'], message: 'is required with by "header"' });
  });
export type RateLimit = z.infer<typeof RateLimit>;

/** An IP address or CIDR block, IPv4 or IPv6 (`10.0.0.0/8`, `2001:db8::/32`, `203.0.113.7`). */
export const Cidr = z.string().superRefine((entry, ctx) => {
  const problem = cidrProblem(entry);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

const IPV4 = z.ipv4();
const IPV6 = z.ipv6();

/** Why `entry` is not an IP or CIDR, or null. */
export function cidrProblem(entry: string): string | null {
  const [addr, bits, extra] = entry.split('/');
  // zod's checks rather than node:net, so the console can share this model.
  const family = IPV4.safeParse(addr).success ? 4 : IPV6.safeParse(addr).success ? 6 : 0;
  if (family === 0 || extra !== undefined) return `${entry} is not an IP address or CIDR`;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 6 ? 128 : 32)))
    return `${entry} has an invalid prefix length`;
  return null;
}

/** Client IP lists (the client IP after `--trust-proxy`): a denied address is refused; with an allow list, only listed ones pass. */
export const IpRules = z.strictObject({
  allow: z.array(Cidr).max(1000).default([]),
  deny: z.array(Cidr).max(1000).default([]),
});
export type IpRules = z.infer<typeof IpRules>;

/** A web origin (`https://app.example.com`, `http://localhost:3000`), `https://*.example.com`, or `*`. */
export const CorsOrigin = z
  .string()
  .max(512)
  .regex(
    /^(\*|https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?)$/,
    'must be *, or scheme://host[:port] (a leading *. matches subdomains)',
  )
  .transform((s) => s.toLowerCase());

/** Cross-origin access from browsers (Fetch standard); preflights are answered by the gateway. */
export const CorsConfig = z
  .strictObject({
    origins: z.array(CorsOrigin).min(1).max(100),
    /** Methods allowed cross-origin; empty: the API's methods. */
    methods: z.array(HttpMethod).max(7).default([]),
    /** Request headers allowed beyond the CORS-safelisted ones. */
    headers: z.array(HeaderName).max(100).default([]),
    /** Response headers scripts may read beyond the safelisted ones. */
    exposeHeaders: z.array(HeaderName).max(100).default([]),
    credentials: z.boolean().default(false),
    /** How long browsers may cache a preflight answer. */
    maxAgeSec: z.number().int().min(0).max(86_400).default(600),
  })
  .superRefine((cors, ctx) => {
    if (cors.credentials && cors.origins.includes('*')) {
      ctx.addIssue({
        code: 'custom',
        path: ['origins'],
        message: 'cannot be * with credentials (browsers refuse it); list the origins',
      });
    }
  });
export type CorsConfig = z.infer<typeof CorsConfig>;

/** An API's access config; `null` sections and an empty `limits` are off. */
export const ApiAccess = z.strictObject({
  auth: AuthConfig.nullable().default(null),
  limits: z.array(RateLimit).max(8).default([]),
  ip: IpRules.nullable().default(null),
  cors: CorsConfig.nullable().default(null),
});
export type ApiAccess = z.infer<typeof ApiAccess>;

/** The access config of an API that has none. */
export const NO_ACCESS: ApiAccess = Object.freeze({ auth: null, limits: [], ip: null, cors: null });

/** Whether an access config checks nothing. */
export function isOpenAccess(access: ApiAccess): boolean {
  return access.auth === null && access.limits.length === 0 && access.ip === null && access.cors === null;
}
