// Small statistics helpers: exact percentiles over recorded samples (nearest-rank).

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n,
    mean: n ? sum / n : null,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1] : null,
    min: n ? sorted[0] : null,
  };
}

/** Rounds for the report: ms to 0.01, rates to whole numbers. */
export const round2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);
