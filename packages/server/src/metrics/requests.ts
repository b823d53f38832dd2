import type { FastifyInstance } from 'fastify';
import { Timings, type Sample } from './scraped.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's request counts by method (metrics/requests.ts), attached when it is registered. */
    requestStats?: Readonly<Record<string, RouteStats>>;
  }
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** The route label of requests no route matched: their URLs are the caller's to choose. */
export const UNMATCHED_ROUTE = 'unmatched';
/** An unmatched request's method is a label only when standard; the rest are one `OTHER`. */
const STANDARD_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** One route and method: answers by status class, and their latency. */
class RouteStats {
  readonly #byClass = new Float64Array(STATUS_CLASSES.length);
  readonly #latency = new Timings();

  constructor(
    readonly method: string,
    readonly route: string,
  ) {}

  observe(statusCode: number, elapsedMs: number): void {
    this.#byClass[Math.min(Math.max(Math.trunc(statusCode / 100), 1), 5) - 1]! += 1;
    this.#latency.observe(elapsedMs / 1000);
  }

  counts(): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < STATUS_CLASSES.length; i++) {
      const value = this.#byClass[i]!;
      if (value > 0) out.push({ labels: { method: this.method, route: this.route, status_class: STATUS_CLASSES[i]! }, value });
    }
    return out;
  }

  latency(): Sample[] {
    return this.#latency.count === 0 ? [] : this.#latency.samples({ method: this.method, route: this.route });
  }
}

/**
 * Requests by route pattern (`/api/v1/projects/:project/…`, never the URL: a secret's key or an id
 * in a path must not become a label, nor let callers mint new series), method and status class,
 * with their latency. The cost on a request's path is one hook and a few additions: the route's
 * counters hang on its config, made once when the route is registered.
 */
export class RequestStats {
  readonly #all: RouteStats[] = [];
  readonly #unmatched = new Map<string, RouteStats>();

  /** Instruments the routes registered after this call, and requests that match none. */
  instrument(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const byMethod: Record<string, RouteStats> = {};
      for (const method of methods) this.#all.push((byMethod[method] = new RouteStats(method, route.url)));
      // Fastify copies the config into each route's context (the HEAD twin of a GET gets its own).
      route.config = { ...route.config, requestStats: byMethod };
    });
    app.addHook('onResponse', (req, reply, done) => {
      const stats = req.routeOptions.config.requestStats?.[req.method] ?? this.#unmatchedFor(req.method);
      stats.observe(reply.statusCode, reply.elapsedTime);
      done();
    });
  }

  counts(): Sample[] {
    return this.#every().flatMap((s) => s.counts());
  }

  latency(): Sample[] {
    return this.#every().flatMap((s) => s.latency());
  }

  #every(): RouteStats[] {
    return [...this.#all, ...this.#unmatched.values()];
  }

  #unmatchedFor(method: string): RouteStats {
    const label = STANDARD_METHODS.has(method) ? method : 'OTHER';
    let stats = this.#unmatched.get(label);
    if (!stats) this.#unmatched.set(label, (stats = new RouteStats(label, UNMATCHED_ROUTE)));
    return stats;
  }
}
