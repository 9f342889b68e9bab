import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { etagOfText } from '../store/changes.js';
import type { Store } from '../store/store.js';
import type { SelectorBudget } from '../model/selector-budget.js';
import { withWriteScope, type IdempotencyClaim, type WriteScope } from '../store/write-scope.js';
import { AdminError } from './errors.js';

// What makes the admin API safe to retry (issue 17), for every route at once: a creating POST with
// `Idempotency-Key` is answered from the store when it was saved before, `If-Match` is checked
// inside the write's transaction, `?dryRun=true` rolls any write back, and 2xx JSON answers carry an
// `ETag`. The checks themselves run in the store's write helper, through the write scope opened here.

declare module 'fastify' {
  interface FastifyRequest {
    /** The Idempotency-Key this request claims, set by `replayIdempotentRequests`. */
    idempotency: IdempotencyClaim | undefined;
  }
}

/** Header of an answer replayed from an earlier request with the same Idempotency-Key. */
export const REPLAYED_HEADER = 'idempotent-replayed';

// Visible ASCII, as Stripe and the IETF draft allow; long enough for a UUID with a prefix.
const KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * `If-Match` as the write scope takes it: '*', a list of entity tags, or undefined when absent. It is
 * for updates of the one object a route addresses (PUT, PATCH, DELETE); on a GET it means nothing
 * and is ignored, on a POST (a create, a revert, an apply) it is refused rather than checked against
 * whatever object such a write happens to change first.
 */
export function parseIfMatch(header: string | undefined, method: string): readonly string[] | '*' | undefined {
  if (header === undefined || method === 'GET' || method === 'HEAD') return undefined;
  if (method === 'POST') {
    throw new AdminError(
      'VALIDATION_FAILED',
      'If-Match is for updates (PUT, PATCH, DELETE); a POST takes Idempotency-Key',
      [{ path: 'If-Match', message: 'not allowed on POST' }],
    );
  }
  const value = header.trim();
  if (value === '*') return '*';
  const tags = value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (tags.length === 0 || tags.some((t) => !/^(W\/)?"[\x21\x23-\x7e]*"$/.test(t))) {
    throw new AdminError('VALIDATION_FAILED', 'If-Match must be * or a list of quoted entity tags (from an ETag)', [
      { path: 'If-Match', message: 'not an entity tag' },
    ]);
  }
  return tags;
}

/** Whether the request asks for a dry run (`?dryRun=true` or `1`). */
export function isDryRun(request: FastifyRequest): boolean {
  const value = (request.query as Record<string, unknown> | undefined)?.dryRun;
  if (value === undefined || request.method === 'GET' || request.method === 'HEAD') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new AdminError('VALIDATION_FAILED', 'dryRun must be true or false', [
    { path: 'dryRun', message: 'must be true or false' },
  ]);
}

/** The hash a key's first request is remembered by: method, URL and body. */
function fingerprint(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
    .digest('base64url');
}

/**
 * A preHandler hook for creating POSTs with `Idempotency-Key`: a key this token used before for the
 * same request is answered with the first answer (and `Idempotent-Replayed: true`) without running
 * the route again; for another request it is 422 IDEMPOTENCY_KEY_REUSED; a new key is claimed, and
 * the store records it with the write's result in the write's own transaction, so a retry after a
 * lost answer (even STORE_OUTCOME_UNKNOWN) finds it exactly when the write was saved.
 */
export function replayIdempotentRequests(store: Store) {
  return async function replayIdempotent(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    request.idempotency = undefined;
    const key = request.headers['idempotency-key'];
    if (key === undefined || request.method !== 'POST' || isDryRun(request)) return undefined;
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new AdminError('VALIDATION_FAILED', 'Idempotency-Key must be 1–255 visible ASCII characters', [
        { path: 'Idempotency-Key', message: 'invalid key' },
      ]);
    }
    const print = fingerprint(request);
    const first = await store.findIdempotencyKey(request.actor.id, key);
    if (first === null) {
      request.idempotency = {
        key,
        fingerprint: print,
        status: request.routeOptions.config.successStatus ?? 200,
        recorded: false,
      };
      return undefined;
    }
    if (first.fingerprint !== print) throw new AdminError('IDEMPOTENCY_KEY_REUSED');
    // The stored body is the JSON alone; every admin JSON answer ends with a newline.
    return reply
      .code(first.status)
      .header(REPLAYED_HEADER, 'true')
      .type('application/json; charset=utf-8')
      .send(first.body + '\n');
  };
}

/**
 * The last preHandler hook: runs the route inside the write scope of this request (actor, If-Match,
 * dry run, Idempotency-Key, and the selector budget its writes must stay within, when given).
 */
export function openWriteScope(
  selectorBudget?: SelectorBudget,
): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  return (request, _reply, done) => {
    let scope: WriteScope;
    try {
      scope = {
        actor: request.actor,
        ifMatch: parseIfMatch(request.headers['if-match'], request.method),
        dryRun: isDryRun(request),
        idempotency: request.idempotency,
        ...(selectorBudget === undefined ? {} : { selectorBudget }),
      };
    } catch (err) {
      done(err as Error);
      return;
    }
    withWriteScope(scope, () => done());
  };
}

/**
 * An onSend hook: a 2xx JSON answer gets an `ETag` of its body (the JSON without the newline every
 * answer ends with), unless the route set one; for one object it is what `If-Match` takes.
 */
export async function addEntityTag(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const status = reply.statusCode;
  if (
    status >= 200 &&
    status < 300 &&
    typeof payload === 'string' &&
    !reply.hasHeader('etag') &&
    String(reply.getHeader('content-type') ?? '').startsWith('application/json')
  ) {
    reply.header('etag', etagOfText(payload.endsWith('\n') ? payload.slice(0, -1) : payload));
  }
  return payload;
}
