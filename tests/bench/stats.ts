/** Small statistics helpers for the benchmark. */

/** The q-quantile (0..1) by nearest rank; NaN for no values. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number {
  return quantile(values, 0.5);
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  /** Events that never reached every receiver before the deadline. */
  lost: number;
}

export function summarize(latencies: number[], lost: number): Latency {
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: Math.max(...latencies), lost };
}
