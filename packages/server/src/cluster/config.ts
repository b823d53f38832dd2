import { ConfigError } from '../errors.js';

/** How instances of one deployment act as one (docs/cluster.md): KEYNEST_REDIS_* and the drain. */
export interface ClusterConfig {
  /** redis:// or rediss:// URL (it may carry a password: never logged or echoed); undefined: one instance alone, everything in process. */
  redisUrl: string | undefined;
  /** Put before every Redis key and channel name, so deployments (and test runs) can share one Redis. */
  redisPrefix: string;
  /**
   * After SIGTERM, how long the instance keeps accepting (and answering, with `Connection: close`)
   * while `/readyz` says 503, so that load balancers notice before connections are refused.
   */
  drainGraceMs: number;
}

type Vars = Record<string, string | undefined>;
type IntegerOf = (vars: Vars, name: string, dflt: number, min: number, max: number) => number;

const REDIS_PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Reads KEYNEST_REDIS_URL, KEYNEST_REDIS_PREFIX and KEYNEST_DRAIN_GRACE_MS; a bad one throws a ConfigError naming it. */
export function parseClusterConfig(vars: Vars, integer: IntegerOf): ClusterConfig {
  return {
    redisUrl: redisUrl(vars.KEYNEST_REDIS_URL),
    redisPrefix: redisPrefix(vars.KEYNEST_REDIS_PREFIX),
    drainGraceMs: integer(vars, 'KEYNEST_DRAIN_GRACE_MS', 5000, 0, 120_000),
  };
}

function redisUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  // Never echo the URL: it may carry a password.
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('KEYNEST_REDIS_URL', 'must be a redis:// or rediss:// URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError('KEYNEST_REDIS_URL', 'must be a redis:// or rediss:// URL');
  if (!url.hostname) throw new ConfigError('KEYNEST_REDIS_URL', 'must name a host (redis://HOST:PORT)');
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) throw new ConfigError('KEYNEST_REDIS_URL', 'the path, when present, must be a database number (redis://HOST:PORT/0)');
  return raw;
}

function redisPrefix(raw: string | undefined): string {
  if (raw === undefined) return 'keynest:';
  if (!REDIS_PREFIX.test(raw)) throw new ConfigError('KEYNEST_REDIS_PREFIX', 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ . : -');
  return raw;
}
