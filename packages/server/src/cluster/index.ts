import type { Invalidation } from '../cache.js';
import type { Clock } from '../context.js';
import type { Logger } from '../logger.js';
import { ClusterBus } from './bus.js';
import type { ClusterConfig } from './config.js';
import { memoryLimiters, redisLimiters, type LimiterStore } from './limiter-store.js';
import { RedisLink } from './redis.js';

export type { ClusterConfig } from './config.js';
export { memoryLimiters, redisLimiters, type LimiterStore } from './limiter-store.js';
export { Readiness, readinessRoute, type Lifecycle, type ReadinessReport } from './readiness.js';
export { RedisLink, type LinkState } from './redis.js';
export { ClusterBus } from './bus.js';

/**
 * What makes instances act as one (docs/cluster.md): with KEYNEST_REDIS_URL, a Redis link that
 * carries the invalidation bus and holds the rate-limit counters; without it, neither (one
 * instance alone keeps both in process).
 */
export class Cluster {
  private constructor(
    /** Null without KEYNEST_REDIS_URL. */
    readonly link: RedisLink | null,
    readonly bus: ClusterBus | null,
    readonly limiters: LimiterStore,
  ) {}

  static async start(config: ClusterConfig, deps: { invalidation: Invalidation; log: Logger; clock: Clock }): Promise<Cluster> {
    if (config.redisUrl === undefined) return new Cluster(null, null, memoryLimiters);
    const link = await RedisLink.connect(config.redisUrl, deps.log);
    const bus = new ClusterBus({ link, invalidation: deps.invalidation, prefix: config.redisPrefix, clock: deps.clock, log: deps.log });
    try {
      await bus.start();
    } catch (err) {
      await link.close();
      throw err;
    }
    return new Cluster(link, bus, redisLimiters(link, config.redisPrefix));
  }

  async close(): Promise<void> {
    await this.link?.close();
  }
}
