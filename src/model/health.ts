import { z } from 'zod';

/** An expected probe answer: one status code (`200`) or a whole class (`"2xx"`). */
export const ExpectedStatus = z.union([
  z.number().int().min(100).max(599),
  z.enum(['1xx', '2xx', '3xx', '4xx', '5xx']),
]);
export type ExpectedStatus = z.infer<typeof ExpectedStatus>;

const activeFields = {
  /** Path (and query) of the probe request, sent to the node's base URL. */
  path: z
    .string()
    .max(1024)
    .regex(/^\/[\x21-\x7e]*$/, 'must start with / and contain no spaces or control characters'),
  /** Time between two probes of one node. */
  intervalMs: z.number().int().min(100).max(3_600_000),
  /** A probe without a complete answer by then fails. */
  timeoutMs: z.number().int().min(1).max(60_000),
  /** Consecutive passing probes that bring an unhealthy node back. */
  healthyThreshold: z.number().int().min(1).max(100),
  /** Consecutive failing probes that take a healthy node out. */
  unhealthyThreshold: z.number().int().min(1).max(100),
  /** Statuses that pass; anything else (and no answer) fails. */
  expectedStatuses: z.array(ExpectedStatus).min(1).max(64),
};

const passiveFields = {
  /** Consecutive failed requests (connect failures, resets, counted timeouts and statuses) that eject a node. */
  consecutiveFailures: z.number().int().min(1).max(1000),
  /** Response statuses that count as failures. */
  statuses: z.array(z.number().int().min(500).max(599)).max(100),
  /** Whether a response-headers timeout counts as a failure. */
  timeouts: z.boolean(),
  /** First ejection's length; the n-th ejection in a row lasts n times this (Envoy's outlier detection). */
  baseEjectionMs: z.number().int().min(100).max(3_600_000),
  /** Longest ejection. */
  maxEjectionMs: z.number().int().min(100).max(86_400_000),
};

/** What an API does when every candidate node is unhealthy: send to all of them anyway, or answer 503. */
export const PanicMode = z.enum(['use-all', 'reject']);
export type PanicMode = z.infer<typeof PanicMode>;

/** Active health checks: each gateway process probes every enabled node of the API. */
export const ActiveCheck = z
  .strictObject({
    path: activeFields.path.default('/'),
    intervalMs: activeFields.intervalMs.default(5_000),
    timeoutMs: activeFields.timeoutMs.default(2_000),
    healthyThreshold: activeFields.healthyThreshold.default(2),
    unhealthyThreshold: activeFields.unhealthyThreshold.default(3),
    expectedStatuses: activeFields.expectedStatuses.default(['2xx', '3xx']),
  })
  // One probe per node at a time: a timeout longer than the interval would stack them up.
  .refine((a) => a.timeoutMs <= a.intervalMs, { path: ['timeoutMs'], message: 'must not be longer than intervalMs' });
export type ActiveCheck = z.infer<typeof ActiveCheck>;

/** Passive health checks (outlier detection): failures of real requests eject a node for a while. */
export const PassiveCheck = z
  .strictObject({
    consecutiveFailures: passiveFields.consecutiveFailures.default(5),
    statuses: passiveFields.statuses.default([500, 502, 503, 504]),
    timeouts: passiveFields.timeouts.default(true),
    baseEjectionMs: passiveFields.baseEjectionMs.default(30_000),
    maxEjectionMs: passiveFields.maxEjectionMs.default(300_000),
  })
  .refine((p) => p.maxEjectionMs >= p.baseEjectionMs, {
    path: ['maxEjectionMs'],
    message: 'must not be shorter than baseEjectionMs',
  });
export type PassiveCheck = z.infer<typeof PassiveCheck>;

/**
 * An API's health settings. Active checks are off by default (they send traffic of their own);
 * passive checks are on, as nginx's `max_fails` is; panic uses all nodes by default.
 */
export const ApiHealth = z.strictObject({
  active: ActiveCheck.nullable().default(null),
  passive: PassiveCheck.nullable().default(() => PassiveCheck.parse({})),
  panic: PanicMode.default('use-all'),
});
export type ApiHealth = z.infer<typeof ApiHealth>;

// Without defaults (zod 4 fills defaults even inside .partial()), so a PATCH keeps what it leaves out.
/** `health` in `PATCH /admin/apis/:id`: any subset; `active`/`passive` merge into the current ones, null turns them off. */
export const ApiHealthPatch = z
  .strictObject({
    active: z.strictObject(activeFields).partial().nullable(),
    passive: z.strictObject(passiveFields).partial().nullable(),
    panic: PanicMode,
  })
  .partial();
export type ApiHealthPatch = z.infer<typeof ApiHealthPatch>;

/** The health settings after a PATCH (validated again, with defaults, when the API is stored). */
export function mergeHealth(current: ApiHealth, patch: ApiHealthPatch | undefined): ApiHealth {
  if (patch === undefined) return current;
  return {
    active: mergeSection(current.active, patch.active) as ApiHealth['active'],
    passive: mergeSection(current.passive, patch.passive) as ApiHealth['passive'],
    panic: patch.panic ?? current.panic,
  };
}

function mergeSection(current: object | null, patch: object | null | undefined): object | null {
  if (patch === undefined) return current;
  if (patch === null) return null;
  return { ...(current ?? {}), ...patch };
}

/** Whether a probe's status is one of the expected ones. */
export function statusExpected(status: number, expected: readonly ExpectedStatus[]): boolean {
  for (const e of expected) {
    if (typeof e === 'number' ? e === status : Math.floor(status / 100) === Number(e[0])) return true;
  }
  return false;
}
