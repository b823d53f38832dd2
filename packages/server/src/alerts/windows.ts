/** Keys not hit for this long are forgotten (the longest window a rule may have is a day). */
const FORGET_AFTER_MS = 24 * 3600 * 1000;
/** How many counts between two sweeps of forgotten keys. */
const SWEEP_EVERY = 10_000;

/**
 * Sliding-window counters for the counting rules: how many matching records fell within the last
 * window, per key (an org, an org and an IP). Kept in memory: records arrive in order from the
 * audit stream, and a restart loses at most one window's partial count (docs/alerts.md).
 */
export class SlidingWindows {
  readonly #hits = new Map<string, number[]>();
  #sinceSweep = 0;

  /** Adds a hit at `at` and answers how many hits of `key` fall within (at − windowMs, at]. */
  hit(key: string, at: number, windowMs: number): number {
    if (++this.#sinceSweep >= SWEEP_EVERY) this.#sweep(at);
    let hits = this.#hits.get(key);
    if (!hits) this.#hits.set(key, (hits = []));
    hits.push(at);
    // Records of one chain arrive in time order; of several chains nearly so. Count, don't assume.
    const from = at - windowMs;
    let old = 0;
    while (old < hits.length && hits[old]! <= from) old++;
    if (old > 0) hits.splice(0, old);
    return hits.filter((t) => t <= at).length;
  }

  #sweep(now: number): void {
    this.#sinceSweep = 0;
    for (const [key, hits] of this.#hits) if (hits.length === 0 || hits[hits.length - 1]! < now - FORGET_AFTER_MS) this.#hits.delete(key);
  }
}
