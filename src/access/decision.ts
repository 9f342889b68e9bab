import { createHash } from 'node:crypto';
import type { LimitKey, RateLimit } from '../model/access.js';
import { addressKey } from '../http/address-key.js';
import { headerValue, type AuthOutcome } from './auth/kind.js';
import type { CompiledAccess, CompiledAuth, CompiledLimit } from './compile.js';
import type { CompiledConsumer, CompiledConsumers } from './consumers.js';
import type { CorsVerdict } from './cors.js';
import type { IpVerdict } from './ip.js';
import type { LimitResult } from './limits/result.js';

// The access decision (lifecycle stage 2), one function for the access stage and for explain:
// IP lists → CORS (a preflight is answered here) → authentication → consumer allowed → rate limits.
// Serving spends rate-limit tokens; explaining only looks at them.

/** The gateway errors the access decision can end in (keys of the gateway's error table). */
export type AccessErrorCode =
  | 'METHOD_NOT_ALLOWED'
  | 'IP_FORBIDDEN'
  | 'CORS_FORBIDDEN'
  | 'AUTH_REQUIRED'
  | 'AUTH_FAILED'
  | 'AUTH_BUSY'
  | 'CONSUMER_FORBIDDEN'
  | 'RATE_LIMITED'
  | 'RATE_LIMIT_UNAVAILABLE';

/** The request as the access decision reads it. */
export interface AccessInput {
  readonly method: string;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawQuery: string;
  /** After `--trust-proxy`. */
  readonly clientIp: string;
}

/** How authentication went: which method decided and why (null: the API has no authentication). */
export interface AuthTrace {
  /** The method whose credential the request carried (or `anonymous`), null when none. */
  readonly method: string | null;
  readonly reason: string | null;
}

/** One rate limit's verdict for this request. */
export interface LimitTrace {
  readonly by: LimitKey;
  /** The bucket's key (a consumer name, client IP or header value; `api` has one bucket). */
  readonly key: string;
  readonly result: LimitResult;
}

/** What the access stage decided and why. */
export interface AccessDecision {
  readonly ok: boolean;
  readonly code: AccessErrorCode | null;
  /** A CORS preflight the gateway answers itself (204 with `headers`). */
  readonly preflight: boolean;
  readonly consumer: CompiledConsumer | null;
  /** Response headers for whatever answer the request gets (`[name, value, …]`), or null. */
  readonly headers: string[] | null;
  readonly ip: IpVerdict | null;
  readonly cors: CorsVerdict | null;
  readonly auth: AuthTrace | null;
  readonly limits: readonly LimitTrace[];
  /** The step that refused the request, or null. */
  readonly step: 'method' | 'ip' | 'cors' | 'auth' | 'consumer' | 'limit' | null;
}

/** Whether the decision spends rate-limit tokens (serving) or only looks (explaining). */
export type AccessMode = 'serve' | 'explain';

class Decision implements AccessDecision {
  ok = true;
  code: AccessErrorCode | null = null;
  preflight = false;
  consumer: CompiledConsumer | null = null;
  headers: string[] | null = null;
  ip: IpVerdict | null = null;
  cors: CorsVerdict | null = null;
  auth: AuthTrace | null = null;
  limits: LimitTrace[] = [];
  step: AccessDecision['step'] = null;

  refuse(step: NonNullable<AccessDecision['step']>, code: AccessErrorCode): this {
    this.ok = false;
    this.step = step;
    this.code = code;
    return this;
  }

  addHeaders(list: readonly string[]): void {
    if (list.length === 0) return;
    if (this.headers === null) this.headers = [...list];
    else this.headers.push(...list);
  }
}

/**
 * Decides access for one request: synchronous unless a check waits (a password hash, a JWKS fetch,
 * a cluster limit's Redis take).
 */
export function decideAccess(
  access: CompiledAccess,
  input: AccessInput,
  consumers: CompiledConsumers,
  mode: AccessMode,
): AccessDecision | Promise<AccessDecision> {
  const d = new Decision();
  if (access.ip !== null) {
    d.ip = access.ip.check(input.clientIp);
    if (d.ip !== 'allowed') return d.refuse('ip', 'IP_FORBIDDEN');
  }
  if (access.cors !== null) {
    const cors = access.cors.decide(input.method, input.headers);
    d.cors = cors.verdict;
    if (cors.verdict === 'preflight-refused') return d.refuse('cors', 'CORS_FORBIDDEN');
    d.addHeaders(cors.headers);
    if (cors.verdict === 'preflight') {
      d.preflight = true;
      return d;
    }
  }
  // OPTIONS routes to an API with CORS for its preflights; any other OPTIONS only if the API accepts it.
  if (!access.methods.has(input.method)) return d.refuse('method', 'METHOD_NOT_ALLOWED');
  if (access.auth === null) return limit(access, input, d, mode);
  const outcome = authenticate(access.auth, input, consumers);
  return outcome instanceof Promise
    ? outcome.then((o) => authenticated(access, input, d, o, mode))
    : authenticated(access, input, d, outcome, mode);
}

/** No credential for any configured method (and no anonymous): 401 AUTH_REQUIRED. */
const NONE: AuthOutcome = Object.freeze({
  ok: false,
  code: 'AUTH_FAILED',
  method: 'anonymous',
  reason: 'no credential',
});

/** The first configured method whose credential the request carries decides (anonymous, last, takes the rest). */
export function authenticate(
  auth: CompiledAuth,
  input: AccessInput,
  consumers: CompiledConsumers,
): AuthOutcome | Promise<AuthOutcome> {
  for (const method of auth.methods) {
    const credential = method.find(input);
    if (credential !== null) return method.verify(credential, consumers);
  }
  return NONE;
}

/**
 * Whether the API lets this consumer in. With `consumers` or `tags` set an anonymous caller is not
 * let in either: otherwise a refused consumer would get in by leaving its credential out.
 */
export function consumerAllowed(auth: CompiledAuth, consumer: CompiledConsumer | null): boolean {
  if (auth.allowNames === null) return true;
  if (consumer === null) return false;
  if (auth.allowNames.has(consumer.name)) return true;
  for (const tag of consumer.tags) if (auth.allowTags!.has(tag)) return true;
  return false;
}

function authenticated(
  access: CompiledAccess,
  input: AccessInput,
  d: Decision,
  outcome: AuthOutcome,
  mode: AccessMode,
): AccessDecision | Promise<AccessDecision> {
  const auth = access.auth!;
  if (!outcome.ok) {
    d.auth = { method: outcome === NONE ? null : outcome.method, reason: outcome.reason };
    if (outcome.code !== 'AUTH_BUSY' && auth.challenge !== '') d.addHeaders(['www-authenticate', auth.challenge]);
    return d.refuse('auth', outcome === NONE ? 'AUTH_REQUIRED' : outcome.code);
  }
  d.auth = { method: outcome.method, reason: null };
  d.consumer = outcome.consumer;
  if (!consumerAllowed(auth, outcome.consumer)) return d.refuse('consumer', 'CONSUMER_FORBIDDEN');
  return limit(access, input, d, mode);
}

/** Longest header value used as a bucket key as it is; a longer one is keyed by its SHA-256. */
export const MAX_PLAIN_LIMIT_KEY = 64;

/** How a hashed key starts; a value that starts so is hashed too, so a plain key never looks like a hashed one. */
const HASHED_PREFIX = 'sha256:';

/** The key of a long header value: its digest (a client must not choose kilobytes of memory or of Redis key per bucket). */
function hashedKey(value: string): string {
  return `${HASHED_PREFIX}${createHash('sha256').update(value, 'latin1').digest('base64url')}`;
}

/** The bucket key of a limit for this request: `consumer` falls back to the client IP for anonymous callers, a missing header shares one bucket. */
export function limitKey(limit: RateLimit, consumer: CompiledConsumer | null, input: AccessInput): string {
  switch (limit.by) {
    case 'api':
      return '';
    case 'consumer':
      return consumer === null ? `ip:${addressKey(input.clientIp, limit.ipv6Prefix)}` : consumer.limitKey;
    case 'ip':
      return addressKey(input.clientIp, limit.ipv6Prefix);
    case 'header': {
      const value = headerValue(input.headers, limit.header!) ?? '';
      return value.length > MAX_PLAIN_LIMIT_KEY || value.startsWith(HASHED_PREFIX) ? hashedKey(value) : value;
    }
  }
}

function limit(
  access: CompiledAccess,
  input: AccessInput,
  d: Decision,
  mode: AccessMode,
  from = 0,
): AccessDecision | Promise<AccessDecision> {
  const limits = access.limits;
  for (let i = from; i < limits.length; i++) {
    const l: CompiledLimit = limits[i]!;
    const key = limitKey(l.config, d.consumer, input);
    const result = mode === 'serve' ? l.limiter.take(key) : l.limiter.peek(key);
    if (result instanceof Promise) return result.then((r) => limited(access, input, d, mode, i, key, r));
    const stop = record(d, l, key, result);
    if (stop) return finishLimits(d);
  }
  return finishLimits(d);
}

function limited(
  access: CompiledAccess,
  input: AccessInput,
  d: Decision,
  mode: AccessMode,
  i: number,
  key: string,
  result: LimitResult,
): AccessDecision | Promise<AccessDecision> {
  if (record(d, access.limits[i]!, key, result)) return finishLimits(d);
  return limit(access, input, d, mode, i + 1);
}

/** Records a limit's verdict; true when it refused the request. */
function record(d: Decision, l: CompiledLimit, key: string, result: LimitResult): boolean {
  d.limits.push({ by: l.config.by, key, result });
  if (result.allowed) return false;
  d.refuse('limit', result.unavailable === true ? 'RATE_LIMIT_UNAVAILABLE' : 'RATE_LIMITED');
  return true;
}

// RateLimit-Limit, -Remaining and -Reset (draft-ietf-httpapi-ratelimit-headers) of the limit closest
// to refusing; Retry-After (RFC 9110 §10.2.3) on a 429.
function finishLimits(d: Decision): AccessDecision {
  if (d.limits.length === 0) return d;
  let tightest = d.limits[0]!.result;
  for (const l of d.limits) {
    if (!l.result.allowed) {
      tightest = l.result;
      break;
    }
    if (l.result.remaining < tightest.remaining) tightest = l.result;
  }
  if (tightest.unavailable === true) return d;
  d.addHeaders([
    'ratelimit-limit',
    String(tightest.limit),
    'ratelimit-remaining',
    String(tightest.remaining),
    'ratelimit-reset',
    String(Math.ceil(tightest.resetMs / 1000)),
  ]);
  if (!tightest.allowed) d.addHeaders(['retry-after', String(Math.max(1, Math.ceil(tightest.retryAfterMs / 1000)))]);
  return d;
}
