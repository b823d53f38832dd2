import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../storage/database.js';
import type { LinkState } from './redis.js';

/** Where the instance is in its life: only `serving` can be ready. */
export interface Lifecycle {
  /** False until everything is started; the listener opens only afterwards, so this is brief. */
  started: boolean;
  /** Set when shutdown begins: /readyz answers 503 and answers ask clients to close keep-alive connections. */
  draining: boolean;
}

export type ReadinessStatus = 'ready' | 'degraded' | 'starting' | 'draining' | 'unavailable';

/** One status word per component, nothing more: the route is public. */
export interface ReadinessReport {
  status: ReadinessStatus;
  database: 'up' | 'down';
  /** `off` without KEYNEST_REDIS_URL. */
  redis: LinkState | 'off';
  keyring: 'ready' | 'sealed';
}

/** A load balancer probing every second costs the database at most one query a second, whoever else calls. */
const DATABASE_CHECK_REUSE_MS = 1000;
const DATABASE_CHECK_TIMEOUT_MS = 2000;

/**
 * Whether this instance should get traffic (`/readyz`). 503 while starting, while draining, or
 * when the database is unreachable or the keyring is not ready: this instance cannot serve.
 * Redis unreachable is `degraded` but still 200: Redis is shared by every instance, so a 503 would
 * make the load balancer take them *all* out, while each can serve correctly on its own (local rate
 * limits; revocations seen within the caches' 1 s TTL). docs/cluster.md.
 */
export class Readiness {
  #databaseCheck: { at: number; result: Promise<boolean> } | null = null;

  constructor(
    private readonly deps: {
      db: Db;
      lifecycle: Lifecycle;
      redis: { readonly state: LinkState } | null;
      /** The root key is loaded and the keyring usable (a future sealed state answers false). */
      keyringReady: () => boolean;
    },
  ) {}

  async report(): Promise<ReadinessReport> {
    const { lifecycle, redis, keyringReady } = this.deps;
    const database = (await this.#databaseUp()) ? 'up' : 'down';
    const keyring = keyringReady() ? 'ready' : 'sealed';
    const redisState = redis ? redis.state : 'off';
    let status: ReadinessStatus;
    if (lifecycle.draining) status = 'draining';
    else if (!lifecycle.started) status = 'starting';
    else if (database === 'down' || keyring !== 'ready') status = 'unavailable';
    else if (redisState === 'down') status = 'degraded';
    else status = 'ready';
    return { status, database, redis: redisState, keyring };
  }

  /** One check in flight at a time, its answer reused briefly (a public route must not be a lever on the database). */
  #databaseUp(): Promise<boolean> {
    const now = performance.now();
    const last = this.#databaseCheck;
    if (last && now - last.at < DATABASE_CHECK_REUSE_MS) return last.result;
    const result = withTimeout(
      sql`select 1`.execute(this.deps.db).then(() => true),
      DATABASE_CHECK_TIMEOUT_MS,
    ).catch(() => false);
    this.#databaseCheck = { at: now, result };
    return result;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]).finally(() => clearTimeout(timer));
}

export const READY_STATUSES: readonly ReadinessStatus[] = ['ready', 'degraded'];

/** `GET /readyz`: 200 when ready or degraded, 503 otherwise; the body says which, one word per component. */
export function readinessRoute(app: FastifyInstance, deps: { readiness: Readiness }): void {
  app.get('/readyz', {
    config: { access: { public: 'load balancers probe it; it says one status word per component, nothing more' } },
    schema: { hide: true },
    handler: async (_req, reply) => {
      const report = await deps.readiness.report();
      return reply.code(READY_STATUSES.includes(report.status) ? 200 : 503).send(report);
    },
  });
}
