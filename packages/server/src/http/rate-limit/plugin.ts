import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Principal } from '../../access/principal.js';
import type { Clock } from '../../context.js';
import { AppError, ConfigError } from '../../errors.js';
import { ruleName, rulesForRoute, scopeOf, type RateRule } from './rules.js';
import type { RateLimitStore, RateVerdict, RateWindow } from './store.js';

/** The limit name of an org's plan (requests per minute), in metrics and refusals. */
export const PLAN_LIMIT = 'plan/requests-per-minute';
/** A limit's name: a rule's (`http/auth/ip`) or the plan's. */
export type LimitName = `http/${string}` | typeof PLAN_LIMIT;

export interface RateLimitDeps {
  rules: readonly RateRule[];
  /** Where the counters live (store.ts: memory today, Redis in a cluster). */
  store: RateLimitStore;
  clock: Clock;
  /** The org's plan allowance (orgs/quotas.ts); null: unlimited. Synchronous when cached. */
  orgWindow: (orgId: string) => RateWindow | null | Promise<RateWindow | null>;
  /** Told of every refusal, by limit name: the count metrics and the security status read. */
  onRefusal: (limit: LimitName) => void;
}

interface CompiledRule {
  name: LimitName;
  /** Namespaces the rule's counters in the store: `r<index>|`. */
  prefix: string;
  key: RateRule['key'];
  window: RateWindow;
}

interface Charge {
  name: LimitName;
  key: string;
  window: RateWindow;
}

type Outcome = AppError | null;

declare module 'fastify' {
  interface FastifyRequest {
    /** The charged limit with the fewest requests left so far: what the RateLimit-* headers show. */
    rateTightest: RateVerdict | null;
  }
}

/**
 * Rate limits on every route (docs/rate-limits.md). Bound to each route when it is registered (no
 * matching per request): the address's limit is charged before authentication, so a flood of bad
 * credentials is stopped before any lookup; the user's, token's, org's and the org plan's after it,
 * before the body is parsed. Each answer carries RateLimit-Limit/-Remaining/-Reset of the tightest
 * limit charged; a refusal is `429 rate_limited` with Retry-After. Register after the access
 * control (its guard must already be on each route: the address check is put before it).
 */
export function registerRateLimits(app: FastifyInstance, deps: RateLimitDeps): void {
  const compiled = deps.rules.map((r, i) => ({ rule: r, name: ruleName(r), prefix: `r${i}|` }));
  const used = new Set<RateRule>();
  app.decorateRequest('rateTightest', null);

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // One route object per method is the norm here; a multi-method route takes the first's rules.
    const governing = rulesForRoute(deps.rules, String(methods[0]), route.url);
    for (const r of governing) used.add(r);
    const rules: CompiledRule[] = governing.map((r) => {
      const c = compiled.find((x) => x.rule === r)!;
      return { name: c.name, prefix: c.prefix, key: r.key, window: r.window! };
    });
    const preAuth = rules.filter((r) => r.key === 'ip');
    const postAuth = rules.filter((r) => r.key !== 'ip');
    if (preAuth.length > 0) {
      const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [(req, reply, done) => settle(chargeAll(deps, ipCharges(preAuth, req), req, reply), done), ...own];
    }
    // Public routes have no caller, so this adds nothing there; health probes have no rules at all.
    if (rules.length > 0 && !('public' in (route.config?.access ?? {}))) {
      const own = route.preParsing === undefined ? [] : Array.isArray(route.preParsing) ? route.preParsing : [route.preParsing];
      route.preParsing = [
        (req, reply, payload, done) => {
          const principal = req.caller?.principal;
          if (!principal) return done(null, payload);
          settle(callerCharges(deps, postAuth, principal, req, reply), (err) => (err ? done(err) : done(null, payload)));
        },
        ...own,
      ];
    }
  });

  // A rule naming a route that does not exist is a typo that would silently limit nothing.
  app.addHook('onReady', async () => {
    for (const r of deps.rules) {
      const scope = scopeOf(r.scope);
      if (scope?.kind === 'route' && r.window && !used.has(r)) throw new ConfigError('KEYNEST_RATE_LIMITS', `no route matches "${r.scope}" (write the pattern as the API lists it, e.g. GET /api/v1/projects/:project)`);
    }
  });
}

function ipCharges(rules: readonly CompiledRule[], req: FastifyRequest): Charge[] {
  const ip = req.ip ?? 'unknown';
  return rules.map((r) => ({ name: r.name, key: r.prefix + ip, window: r.window }));
}

function callerCharges(deps: RateLimitDeps, rules: readonly CompiledRule[], p: Principal, req: FastifyRequest, reply: FastifyReply): Outcome | Promise<Outcome> {
  const charges: Charge[] = [];
  for (const r of rules) {
    const id = r.key === 'org' ? p.orgId : r.key === 'user' ? (p.type === 'user' ? p.userId : null) : p.type === 'token' ? p.tokenId : null;
    if (id !== null) charges.push({ name: r.name, key: r.prefix + id, window: r.window });
  }
  const plan = deps.orgWindow(p.orgId);
  const withPlan = (w: RateWindow | null) => chargeAll(deps, w ? [...charges, { name: PLAN_LIMIT, key: `plan|${p.orgId}`, window: w }] : charges, req, reply);
  return isPromise(plan) ? plan.then(withPlan) : withPlan(plan);
}

/**
 * Charges each limit in turn, synchronously while the store answers synchronously (the in-memory
 * store always does: no promise on the hot path); stops at the first refusal. The answer's headers
 * show the charged limit with the fewest requests left, the address's included (`req.rateTightest`).
 */
function chargeAll(deps: RateLimitDeps, charges: readonly Charge[], req: FastifyRequest, reply: FastifyReply): Outcome | Promise<Outcome> {
  const now = deps.clock();
  for (let i = 0; i < charges.length; i++) {
    const c = charges[i]!;
    const v = deps.store.hit(c.key, c.window, now);
    if (isPromise(v)) return chargeRest(deps, charges, i, v, now, req, reply);
    if (!v.allowed) return refuse(deps, c, v, reply);
    if (req.rateTightest === null || v.remaining < req.rateTightest.remaining) req.rateTightest = v;
  }
  if (req.rateTightest) headers(reply, req.rateTightest);
  return null;
}

/** The same, from the first charge a store answered with a promise. */
async function chargeRest(deps: RateLimitDeps, charges: readonly Charge[], from: number, pending: Promise<RateVerdict>, now: number, req: FastifyRequest, reply: FastifyReply): Promise<Outcome> {
  for (let i = from; i < charges.length; i++) {
    const c = charges[i]!;
    const v = i === from ? await pending : await deps.store.hit(c.key, c.window, now);
    if (!v.allowed) return refuse(deps, c, v, reply);
    if (req.rateTightest === null || v.remaining < req.rateTightest.remaining) req.rateTightest = v;
  }
  if (req.rateTightest) headers(reply, req.rateTightest);
  return null;
}

function refuse(deps: RateLimitDeps, c: Charge, v: RateVerdict, reply: FastifyReply): AppError {
  headers(reply, v);
  deps.onRefusal(c.name);
  return new AppError('rate_limited', 'Too many requests; slow down and retry after the time in Retry-After', { limit: c.name }, { retryAfterS: Math.max(1, Math.ceil(v.resetMs / 1000)) });
}

function headers(reply: FastifyReply, v: RateVerdict): void {
  // The IETF httpapi draft's three fields (RateLimit-Reset in seconds from now), as most clients read them.
  void reply.header('ratelimit-limit', v.limit).header('ratelimit-remaining', v.remaining).header('ratelimit-reset', Math.max(0, Math.ceil(v.resetMs / 1000)));
}

function settle(outcome: Outcome | Promise<Outcome>, done: (err?: Error) => void): void {
  if (isPromise(outcome)) {
    outcome.then((err) => (err ? done(err) : done()), done);
    return;
  }
  if (outcome) done(outcome);
  else done();
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
