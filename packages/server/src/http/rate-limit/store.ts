import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** `points` requests per `durationS` seconds. */
export interface RateWindow {
  points: number;
  durationS: number;
}

/** What one charge found: allowed or not, and what the RateLimit-* headers say. */
export interface RateVerdict {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window that holds this charge ends (Retry-After when refused). */
  resetMs: number;
}

/**
 * THE SEAM between the limiter and where its counters live. `hit` charges one request to `key`
 * under `window` and says whether it fits. A store may answer synchronously (the in-memory one
 * does, so the hot path pays no promise) or with a promise (a networked one: Redis).
 *
 * Today: `MemoryWindowStore`, this instance's memory. For a cluster, pass `flexibleStore` over
 * rate-limiter-flexible's RateLimiterRedis with a RateLimiterMemory as its `insuranceLimiter`, so
 * that instances share counts and fall back to local ones while Redis is away (docs/rate-limits.md).
 * Keys are already namespaced by rule (`<rule>|<value>`); a store must keep them apart, nothing more.
 */
export interface RateLimitStore {
  hit(key: string, window: RateWindow, now: number): RateVerdict | Promise<RateVerdict>;
}

/** How many keys the memory store holds before it sweeps out those whose windows ended. */
const SWEEP_AT_KEYS = 50_000;

/**
 * Fixed windows in this process's memory: one number and one time per key, no timer, no promise.
 * A window starts with a key's first request and lasts `durationS`; a burst at the edge of two
 * windows can therefore pass up to twice `points` within `durationS` (the usual fixed-window
 * trade, accepted for a check that costs one Map lookup). Time comes from the caller's clock.
 */
export class MemoryWindowStore implements RateLimitStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>();

  hit(key: string, window: RateWindow, now: number): RateVerdict {
    let w = this.#windows.get(key);
    if (w === undefined || now >= w.endsAt || w.endsAt - now > window.durationS * 1000) {
      if (w === undefined && this.#windows.size >= SWEEP_AT_KEYS) this.#sweep(now);
      w = { count: 0, endsAt: now + window.durationS * 1000 };
      this.#windows.set(key, w);
    }
    w.count++;
    return { allowed: w.count <= window.points, limit: window.points, remaining: Math.max(0, window.points - w.count), resetMs: w.endsAt - now };
  }

  /** Keys with a live window. */
  get size(): number {
    return this.#windows.size;
  }

  #sweep(now: number): void {
    for (const [k, w] of this.#windows) if (now >= w.endsAt) this.#windows.delete(k);
    // Still full of live windows (a flood from many addresses): start over rather than grow
    // without bound; the cost is that those callers get fresh windows.
    if (this.#windows.size >= SWEEP_AT_KEYS) this.#windows.clear();
  }
}

/**
 * A store over rate-limiter-flexible, for counters kept elsewhere (Redis in a cluster). `limiterFor`
 * builds one limiter per distinct window (called once per window, kept here), e.g.
 *
 *     flexibleStore((w) => new RateLimiterRedis({ storeClient: redis, keyPrefix: `kn-rl-${w.points}-${w.durationS}`,
 *       points: w.points, duration: w.durationS, insuranceLimiter: new RateLimiterMemory({ points: w.points, duration: w.durationS }) }))
 *
 * The library keeps its own time (the real clock), so `now` is not used here.
 */
export function flexibleStore(limiterFor: (window: RateWindow) => RateLimiterAbstract): RateLimitStore {
  const limiters = new Map<string, RateLimiterAbstract>();
  return {
    async hit(key, window) {
      const id = `${window.points}/${window.durationS}`;
      let limiter = limiters.get(id);
      if (!limiter) limiters.set(id, (limiter = limiterFor(window)));
      try {
        const res = await limiter.consume(key);
        return { allowed: true, limit: window.points, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
      } catch (err) {
        // The library rejects with its result when the key is out of points, and with an Error
        // for a fault (a store it cannot reach and no insurance limiter): the latter is not ours to hide.
        if (!(err instanceof RateLimiterRes)) throw err;
        return { allowed: false, limit: window.points, remaining: 0, resetMs: err.msBeforeNext };
      }
    },
  };
}
