import type { AccessExplanation } from '../explain/explanation.js';
import type { SelectorRequest } from '../selector/types.js';
import type { CompiledAccess } from './compile.js';
import type { CompiledConsumers } from './consumers.js';
import { decideAccess, type AccessDecision } from './decision.js';
import { stripCredentials } from './strip.js';

/** What explaining access gives back: the explanation, and the request as the balance stage would see it. */
export interface ExplainedAccess {
  explanation: AccessExplanation;
  decision: AccessDecision;
  /** The sample with the consumer filled in and the credentials stripped (as serving strips them). */
  request: SelectorRequest;
}

/**
 * Runs the access decision (as the access stage does, but only looking at rate limits) for a sample
 * request carrying credentials. `limitsKnown`: whether this process's buckets are the serving ones.
 */
export async function explainAccess(
  access: CompiledAccess,
  consumers: CompiledConsumers,
  sample: SelectorRequest,
  limitsKnown: boolean,
): Promise<ExplainedAccess> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(sample.headers))
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(sample.query))
    for (const v of Array.isArray(value) ? value : [value]) query.append(name, v);
  const rawQuery = query.toString();
  const decision = await decideAccess(
    access,
    { method: sample.method, headers, rawQuery, clientIp: sample.clientIp },
    consumers,
    'explain',
  );
  const headerPairs: Record<string, string> = {};
  const list = decision.headers ?? [];
  for (let i = 0; i < list.length; i += 2) headerPairs[list[i]!] = list[i + 1]!;
  const explanation: AccessExplanation = {
    errorCode: decision.code,
    step: decision.step,
    preflight: decision.preflight,
    ip:
      access.ip === null
        ? null
        : {
            clientIp: sample.clientIp,
            verdict: decision.ip,
            allow: access.ip.matching(sample.clientIp, 'allow'),
            deny: access.ip.matching(sample.clientIp, 'deny'),
          },
    cors: access.cors === null ? null : { origin: headers['origin'] ?? null, verdict: decision.cors },
    auth:
      access.auth === null
        ? null
        : {
            methods: access.auth.methods.map((m) => m.kind),
            method: decision.auth?.method ?? null,
            reason: decision.auth?.reason ?? null,
            consumer:
              decision.consumer === null ? null : { name: decision.consumer.name, tags: [...decision.consumer.tags] },
          },
    limits: decision.limits.map((l, i) => {
      const config = access.limits[i]!.config;
      return {
        by: l.by,
        key: l.key,
        rate: config.rate,
        per: config.per,
        burst: config.burst ?? config.rate,
        policy: l.result.policy,
        remaining: l.result.remaining,
        wouldRefuse: !l.result.allowed,
        known: limitsKnown,
      };
    }),
    headers: headerPairs,
  };
  const stripped = { headers: { ...headers }, rawHeaders: Object.entries(headers).flat() };
  const auth = access.auth;
  const strippedQuery =
    auth !== null && !auth.config.forwardCredentials ? stripCredentials(stripped, rawQuery, auth.methods) : rawQuery;
  const request: SelectorRequest = {
    ...sample,
    headers: auth !== null && !auth.config.forwardCredentials ? stripped.headers : sample.headers,
    query:
      strippedQuery === rawQuery
        ? sample.query
        : (Object.fromEntries(groupQuery(strippedQuery)) as SelectorRequest['query']),
    consumer: decision.consumer === null ? null : decision.consumer.view,
  };
  return { explanation, decision, request };
}

function groupQuery(raw: string): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of new URLSearchParams(raw)) {
    const seen = out.get(k);
    out.set(k, seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v]);
  }
  return out;
}
