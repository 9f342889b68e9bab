/**
 * The retry budget of one API in one gateway process (Envoy's `retry_budget`): of the API's requests
 * in the proxy stage, at most `budgetPercent` % may be in a retry at once, though `budgetMinConcurrent`
 * always may. A retry past it is not made: the failure is answered as it is. When a node fails under
 * load, its requests' retries would otherwise double the load on the nodes left. A retry after a
 * connect failure or a refusal by the node's wait queue takes no place: the node never saw the
 * request, so it is moved, not repeated. Outlives snapshots, as the algorithm's state does.
 */
export class RetryBudget {
  /** Requests of the API in the proxy stage now. */
  active = 0;
  /** Of those, requests that are being retried. */
  retrying = 0;

  /** Takes a place for a request's first retry; false when the budget is spent (no place is taken). */
  admit(budgetPercent: number | null, budgetMinConcurrent: number): boolean {
    if (budgetPercent !== null) {
      const limit = Math.max(budgetMinConcurrent, Math.floor((this.active * budgetPercent) / 100));
      if (this.retrying >= limit) return false;
    }
    this.retrying++;
    return true;
  }
}
