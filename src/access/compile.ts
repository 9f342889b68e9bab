import type { Api } from '../model/api.js';
import type { AuthConfig, RateLimit } from '../model/access.js';
import { isOpenAccess } from '../model/access.js';
import { createAuthenticator } from './auth/index.js';
import type { Authenticator } from './auth/kind.js';
import { compileCors, type CompiledCors } from './cors.js';
import { compileIpRules, type CompiledIpRules } from './ip.js';
import type { LimitRegistry } from './limits/registry.js';
import type { Limiter } from './limits/result.js';

/** An API's authentication, compiled. */
export interface CompiledAuth {
  readonly config: AuthConfig;
  readonly methods: readonly Authenticator[];
  /** The `WWW-Authenticate` value of a 401 (one challenge per method that has one). */
  readonly challenge: string;
  /** Consumer names and tags allowed; null: any authenticated consumer. */
  readonly allowNames: ReadonlySet<string> | null;
  readonly allowTags: ReadonlySet<string> | null;
}

/** One rate limit, compiled: how its key is read and its buckets. */
export interface CompiledLimit {
  readonly config: RateLimit;
  readonly limiter: Limiter;
}

/** An API's access config, compiled into the snapshot (null on an API without one: the stage then checks the body size only). */
export interface CompiledAccess {
  readonly ip: CompiledIpRules | null;
  readonly cors: CompiledCors | null;
  readonly auth: CompiledAuth | null;
  readonly limits: readonly CompiledLimit[];
  /** The API's own methods: with CORS, OPTIONS routes to the API for preflights even when it is not one of them. */
  readonly methods: ReadonlySet<string>;
}

/** Compiles an API's access config; null when it checks nothing. */
export function compileAccess(api: Api, limits: LimitRegistry): CompiledAccess | null {
  const access = api.access;
  if (isOpenAccess(access)) return null;
  let auth: CompiledAuth | null = null;
  if (access.auth !== null) {
    const methods = access.auth.methods.map((m) => createAuthenticator(m, api.name));
    auth = {
      config: access.auth,
      methods,
      challenge: methods.flatMap((m) => (m.challenge === null ? [] : [m.challenge])).join(', '),
      allowNames:
        access.auth.consumers.length > 0 || access.auth.tags.length > 0 ? new Set(access.auth.consumers) : null,
      allowTags: access.auth.consumers.length > 0 || access.auth.tags.length > 0 ? new Set(access.auth.tags) : null,
    };
  }
  return Object.freeze({
    ip: access.ip === null ? null : compileIpRules(access.ip),
    cors: access.cors === null ? null : compileCors(access.cors, api.methods),
    auth,
    limits: access.limits.map((config, i) => ({ config, limiter: limits.limiter(api.id, i, config) })),
    methods: new Set(api.methods),
  });
}
