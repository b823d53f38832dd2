import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { describe, it } from 'node:test';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { loadConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { registerErrorHandling } from '../errors.js';
import { DEFAULT_RATE_RULES, flexibleStore, MemoryWindowStore, parseRateRules, registerRateLimits, type LimitName } from './index.js';
import { rulesForRoute } from './rules.js';

const W = { points: 2, durationS: 60 };

describe('MemoryWindowStore', () => {
  it('counts per key within a window, refuses past the limit, and starts over when the window ends', () => {
    const store = new MemoryWindowStore();
    const t0 = 1_000_000;
    assert.deepEqual(store.hit('a', W, t0), { allowed: true, limit: 2, remaining: 1, resetMs: 60_000 });
    assert.deepEqual(store.hit('a', W, t0 + 10_000), { allowed: true, limit: 2, remaining: 0, resetMs: 50_000 });
    assert.deepEqual(store.hit('a', W, t0 + 20_000), { allowed: false, limit: 2, remaining: 0, resetMs: 40_000 });
    // Another key is not touched by a's refusals.
    assert.equal(store.hit('b', W, t0 + 20_000).allowed, true);
    assert.deepEqual(store.hit('a', W, t0 + 60_000), { allowed: true, limit: 2, remaining: 1, resetMs: 60_000 });
  });

  it('a clock set back does not leave a key in a window longer than its duration', () => {
    const store = new MemoryWindowStore();
    store.hit('a', W, 1_000_000);
    store.hit('a', W, 1_000_000);
    assert.equal(store.hit('a', W, 1_000_000 - 120_000).allowed, true);
  });
});

describe('flexibleStore (the seam a shared store plugs into)', () => {
  it('answers through rate-limiter-flexible, one limiter per window', async () => {
    let made = 0;
    const store = flexibleStore((w) => {
      made++;
      return new RateLimiterMemory({ points: w.points, duration: w.durationS });
    });
    const first = await store.hit('k', W, 0);
    assert.equal(first.allowed, true);
    assert.equal(first.remaining, 1);
    assert.equal((await store.hit('k', W, 0)).allowed, true);
    const refused = await store.hit('k', W, 0);
    assert.equal(refused.allowed, false);
    assert.equal(refused.remaining, 0);
    assert.ok(refused.resetMs > 0 && refused.resetMs <= 60_000);
    await store.hit('k', { points: 5, durationS: 60 }, 0);
    assert.equal(made, 2);
  });

  it('a store fault is an error, not a refusal or a pass', async () => {
    const broken = { consume: () => Promise.reject(new Error('redis is away')) };
    const store = flexibleStore(() => broken as unknown as RateLimiterMemory);
    await assert.rejects(Promise.resolve(store.hit('k', W, 0)), /redis is away/);
  });

  it('drives the HTTP limiter through a promise-returning store', async () => {
    const app = Fastify();
    registerErrorHandling(app);
    const refusals: LimitName[] = [];
    registerRateLimits(app, {
      rules: parseRateRules('*@ip=2/60'),
      store: flexibleStore((w) => new RateLimiterMemory({ points: w.points, duration: w.durationS })),
      clock: () => 0,
      orgWindow: () => null,
      onRefusal: (l) => refusals.push(l),
    });
    app.get('/x', { config: { access: { public: 'test' } } }, async () => ({ ok: true }));
    await app.ready();
    const a = await app.inject({ method: 'GET', url: '/x' });
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers['ratelimit-limit'], '2');
    assert.equal(a.headers['ratelimit-remaining'], '1');
    assert.equal((await app.inject({ method: 'GET', url: '/x' })).statusCode, 200);
    const refused = await app.inject({ method: 'GET', url: '/x' });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'rate_limited');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.deepEqual(refusals, ['http/*/ip']);
    await app.close();
  });
});

describe('KEYNEST_RATE_LIMITS', () => {
  it('a rule naming a route that does not exist stops the start, naming the setting', async () => {
    const app = Fastify();
    registerRateLimits(app, { rules: parseRateRules('GET /api/v1/projects/:name@ip=5/60'), store: new MemoryWindowStore(), clock: () => 0, orgWindow: () => null, onRefusal: () => {} });
    app.get('/api/v1/projects/:project', { config: { access: { public: 'test' } } }, async () => ({}));
    await assert.rejects(async () => app.ready(), (err: Error) => err instanceof ConfigError && err.variable === 'KEYNEST_RATE_LIMITS' && /no route matches "GET \/api\/v1\/projects\/:name"/.test(err.message));
    await app.close().catch(() => {});
  });


  const failure = (raw: string): string => {
    try {
      loadConfig({ KEYNEST_RATE_LIMITS: raw });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.variable, 'KEYNEST_RATE_LIMITS');
      return err.message;
    }
    assert.fail(`expected "${raw}" to be refused`);
  };

  it('is the defaults when unset, and lays rules over them', () => {
    assert.deepEqual(loadConfig({}).rateLimits, DEFAULT_RATE_RULES);
    const rules = loadConfig({ KEYNEST_RATE_LIMITS: 'auth@ip=10/60; GET /api/v1/projects@user=5/1\n*@token=off' }).rateLimits;
    assert.deepEqual(rules.find((r) => r.scope === 'auth' && r.key === 'ip')?.window, { points: 10, durationS: 60 });
    assert.deepEqual(rules.find((r) => r.scope === 'GET /api/v1/projects')?.window, { points: 5, durationS: 1 });
    assert.equal(rules.find((r) => r.scope === '*' && r.key === 'token')?.window, null);
    assert.equal(rules.filter((r) => r.scope === 'auth' && r.key === 'ip').length, 1, 'replaced, not added');
  });

  it('refuses malformed rules with a line that says what is wrong and how to write it', () => {
    assert.match(failure('auth=10/60'), /rule 1 \("auth=10\/60"\): not in the form SCOPE@KEY=LIMIT.*SCOPE@KEY=POINTS\/SECONDS/);
    assert.match(failure('*@ip=10/60;auth@email=1/1'), /rule 2 .*key must be one of ip, user, token, org/);
    assert.match(failure('everything@ip=1/1'), /scope must be \*, auth, read, write, or a route pattern/);
    assert.match(failure('*@ip=0/60'), /limit must be POINTS\/SECONDS/);
    assert.match(failure('*@ip=10/0'), /limit must be POINTS\/SECONDS/);
    assert.match(failure('*@ip=ten'), /limit must be POINTS\/SECONDS/);
  });

  it('the most specific rule governs a route for each key; off lifts a broader rule; health probes have none', () => {
    const rules = parseRateRules('GET /api/v1/projects@ip=5/60; POST /api/v1/auth/login@ip=off; write@user=50/60');
    const scopes = (m: string, u: string) => rulesForRoute(rules, m, u).map((r) => `${r.scope}@${r.key}`);
    assert.deepEqual(scopes('GET', '/api/v1/projects'), ['GET /api/v1/projects@ip', '*@user', '*@token']);
    assert.deepEqual(scopes('POST', '/api/v1/projects'), ['*@ip', 'write@user', '*@token']);
    assert.deepEqual(scopes('POST', '/api/v1/auth/refresh'), ['auth@ip', 'write@user', '*@token']);
    assert.deepEqual(scopes('POST', '/api/v1/auth/login'), ['write@user', '*@token']);
    assert.deepEqual(scopes('POST', '/api/v1/me/2fa/totp/confirm'), ['auth@ip', 'write@user', '*@token']);
    assert.deepEqual(scopes('GET', '/healthz'), []);
  });
});
