// Small statistics helpers: exact percentiles over recorded samples (nearest-rank), timing, and a
// seeded random source (datasets and query parameters the same in every run).

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
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1] : null,
    min: n ? sorted[0] : null,
  };
}

/** Rounds for the report: ms to 0.01, rates to whole numbers. */
export const round2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);

/** Runs `work` and says how long it took, in milliseconds. */
export async function timed(work) {
  const t0 = process.hrtime.bigint();
  const result = await work();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
}

/** The fastest of several `timed` runs. */
export const fastest = (runs) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));

/** mulberry32: a fast seeded generator of numbers in [0, 1), good enough to spread test data. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
