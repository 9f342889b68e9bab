/** The answer of one take: tokens granted, tokens left, ms until the next one. */
export interface TakeReply {
  granted: number;
  left: number;
  waitMs: number;
}

/** Failures of the Redis link, one class each with a stable `code` (`/status` shows the message). */
export abstract class RedisLinkError extends Error {
  /** The failure's stable code. */
  abstract readonly code: string;
}

/** Redis is marked down: the take was not sent (callers fall back at once). */
export class RedisUnreachableError extends RedisLinkError {
  readonly code = 'REDIS_UNREACHABLE';
}

/** The take script's reply is not `[granted, left, waitMs]` as the script returns it: Redis (or what answers as Redis) cannot be trusted. */
export class RedisBadReplyError extends RedisLinkError {
  readonly code = 'REDIS_BAD_REPLY';
}

const shown = (reply: unknown) => JSON.stringify(reply)?.slice(0, 80) ?? String(reply);

/**
 * Checks a take script's reply: an array of 3 finite numbers (or numeric strings), with
 * granted an integer, 0 ≤ granted ≤ want, left ≥ 0 and waitMs ≥ 0. Throws RedisBadReplyError otherwise.
 */
export function parseTakeReply(reply: unknown, want: number): TakeReply {
  if (!Array.isArray(reply) || reply.length !== 3)
    throw new RedisBadReplyError(`Redis bad reply to the take script: ${shown(reply)}`);
  const [granted, left, waitMs] = reply.map((x: unknown) =>
    typeof x === 'number' || (typeof x === 'string' && x.trim() !== '') ? Number(x) : NaN,
  ) as [number, number, number];
  if (
    !Number.isInteger(granted) ||
    !Number.isFinite(left) ||
    !Number.isFinite(waitMs) ||
    granted < 0 ||
    granted > want ||
    left < 0 ||
    waitMs < 0
  )
    throw new RedisBadReplyError(`Redis bad reply to the take script: ${shown(reply)}`);
  return { granted, left, waitMs };
}
