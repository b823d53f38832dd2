import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisLink } from './redis.js';

/**
 * Where rate-limit counters live: `(name, points, durationS)` gives a limiter of `points` per
 * `durationS` seconds whose keys are kept apart from every other limiter's by `name` (a short
 * fixed label from code, such as `login-ip`). The sign-in and mailing brakes (identity/throttle.ts)
 * take one, and so can any other limiter (an HTTP per-endpoint limiter passes its own names):
 * alone, counters are in this process; in a cluster, in Redis, shared by every instance.
 */
export type LimiterStore = (name: string, points: number, durationS: number) => RateLimiterAbstract;

/** Counters in this process's memory: one instance alone. */
export const memoryLimiters: LimiterStore = (name, points, durationS) => new RateLimiterMemory({ keyPrefix: name, points, duration: durationS });

/**
 * Counters in Redis (`<prefix>rl:<name>:<key>`, expiring with their window), so attempts split
 * across instances add up. While Redis is unreachable each limiter falls back at once (no waiting
 * for a connection) to an in-memory insurance limiter with the same limit: the instance keeps
 * serving with its own counts, so during an outage a client spread over N instances may get up to
 * N times the limit, never an error. Counts made meanwhile stay local; Redis's resume where they were.
 */
export function redisLimiters(link: Pick<RedisLink, 'commands'>, prefix: string): LimiterStore {
  return (name, points, durationS) =>
    new RateLimiterRedis({
      storeClient: link.commands,
      keyPrefix: `${prefix}rl:${name}`,
      points,
      duration: durationS,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: durationS }),
    });
}
