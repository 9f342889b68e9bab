import { z } from 'zod';
import { HttpMethod } from './method.js';

const unique = <T>(list: T[]): T[] => [...new Set(list)];

const retryFields = {
  /**
   * Methods retried after the request may have reached a node (a timeout, a reset, a listed status).
   * A connect failure is retried for every method: the node never saw the request.
   */
  methods: z.array(HttpMethod).max(7).transform(unique),
  /** Retry after a response-headers timeout. */
  timeouts: z.boolean(),
  /** Response statuses that are retried on another node (the last try's response is passed on as is). */
  statuses: z.array(z.number().int().min(500).max(599)).max(100).transform(unique),
  /** Total time for all tries until response headers; null: only `retries` and the per-try timeouts bound it. */
  deadlineMs: z.number().int().min(1).max(3_600_000).nullable(),
  /**
   * Retry budget: requests of the API being retried at once, as a percentage of its requests in flight
   * in a gateway process (Envoy's `budget_percent`); null: no budget.
   */
  budgetPercent: z.number().min(0).max(100).nullable(),
  /** Requests that may be retried at once whatever the percentage (Envoy's `min_retry_concurrency`). */
  budgetMinConcurrent: z.number().int().min(0).max(10_000),
};

/** When a failed try is retried on another node (how many times is the API's `retries`). */
export const RetryPolicy = z.strictObject({
  // RFC 9110 §9.2.2's idempotent methods; POST and PATCH are not.
  methods: retryFields.methods.default(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']),
  timeouts: retryFields.timeouts.default(true),
  // Envoy's `gateway-error` set: a 500 is usually the application's own answer, the same on every node.
  statuses: retryFields.statuses.default([502, 503, 504]),
  deadlineMs: retryFields.deadlineMs.default(null),
  // Envoy's retry budget defaults: 20 %, and 3 retries at once whatever the load.
  budgetPercent: retryFields.budgetPercent.default(20),
  budgetMinConcurrent: retryFields.budgetMinConcurrent.default(3),
});
export type RetryPolicy = z.infer<typeof RetryPolicy>;

/** `retry` in `PATCH /admin/apis/:id`: any subset, merged into the current policy. */
export const RetryPolicyPatch = z.strictObject(retryFields).partial();
export type RetryPolicyPatch = z.infer<typeof RetryPolicyPatch>;
