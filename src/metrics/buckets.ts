/** Request and upstream latency bucket bounds, in milliseconds (exposed in seconds). */
export const LATENCY_BOUNDS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

/** Selector call time bucket bounds, in microseconds (exposed in seconds). */
export const SELECTOR_BOUNDS_US = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000];

/**
 * A histogram as a flat array: one count per bucket (the last one above every bound), then the sum.
 * Observing is a short scan and two writes, so the hot path never hashes labels.
 */
export function histogramCells(bounds: readonly number[]): Float64Array {
  return new Float64Array(bounds.length + 2);
}

/** Adds one observation to cells made by `histogramCells(bounds)`. */
export function observe(cells: Float64Array, bounds: readonly number[], value: number): void {
  let b = 0;
  const n = bounds.length;
  while (b < n && value > bounds[b]!) b++;
  cells[b]!++;
  cells[n + 1]! += value;
}
