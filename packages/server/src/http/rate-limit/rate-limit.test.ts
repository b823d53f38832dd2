import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../../testing.js';
import { startServer } from '../../test-support/server.js';
import { api, assertError, request, setupOwner, signIn, type Api, type ApiAnswer } from '../../test-support/api.js';
import { manualClock } from '../../test-support/clock.js';
import { addMember, createProject, createToken, putSecret, secretsPath } from '../../test-support/fixtures.js';
import { sample } from '../../test-support/metrics.js';

const PASSWORD = 'Limit-Quartz-Falcon-3318';
const METRICS_TOKEN = `rate-limit-metrics-${'q'.repeat(32)}`;
/** Small limits, one per kind of key, so each test can run into its own. */
const RULES = [
  '*@ip=1000/60',
  'GET /api/v1/setup@ip=5/60',
  '*@user=8/60',
  '*@token=4/60',
  'GET /api/v1/projects@org=3/60',
  'auth@ip=1000/60',
].join(';');

const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

function assertLimited(res: ApiAnswer, limit: string, retryAfterS: number): void {
  assertError(res, 429, 'rate_limited');
  assert.equal(res.body.error.details.limit, limit);
  assert.equal(res.headers.get('retry-after'), String(retryAfterS));
  assert.equal(res.headers.get('ratelimit-remaining'), '0');
  assert.equal(res.headers.get('ratelimit-reset'), String(retryAfterS));
}

describe('rate limits per address, user, API token, org and endpoint', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let developer: Api;
  let stranger: Api;
  let readToken: string;
  let otherToken: string;

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_RATE_LIMITS: RULES, KEYNEST_TRUST_PROXY: '127.0.0.1', KEYNEST_METRICS_TOKEN: METRICS_TOKEN } });
    owner = api(srv, await setupOwner(srv));
    const org = (await owner('GET', '/api/v1/me')).body.principal.org as { id: string };
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'KEY', 'rate-limit-value');
    readToken = (await createToken(owner, { project: 'app', environment: 'development', access: 'read' })).token;
    otherToken = (await createToken(owner, { project: 'app', environment: 'development', access: 'read' })).token;
    await addMember(srv.db, { orgId: org.id, role: 'developer', email: 'dev@limits.test', password: PASSWORD, now: clock() });
    developer = api(srv, await signIn(srv, { email: 'dev@limits.test', password: PASSWORD }));
    const globex = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', clock()));
    await addMember(srv.db, { orgId: globex.id, role: 'owner', email: 'owner@globex.test', password: PASSWORD, now: clock() });
    stranger = api(srv, await signIn(srv, { email: 'owner@globex.test', password: PASSWORD }));
  });
  after(() => srv.close());

  it('per address on one endpoint: a burst past the limit is 429 with Retry-After; other addresses and health probes are unaffected', async () => {
    clock.advance(61_000);
    for (let i = 1; i <= 5; i++) {
      const res = await request(srv, null, 'GET', '/api/v1/setup', undefined, from('203.0.113.7'));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('ratelimit-limit'), '5');
      assert.equal(res.headers.get('ratelimit-remaining'), String(5 - i));
      assert.equal(res.headers.get('ratelimit-reset'), '60');
    }
    clock.advance(20_000);
    for (let i = 0; i < 3; i++) assertLimited(await request(srv, null, 'GET', '/api/v1/setup', undefined, from('203.0.113.7')), 'http/GET /api/v1/setup/ip', 40);
    assert.equal((await request(srv, null, 'GET', '/api/v1/setup', undefined, from('203.0.113.8'))).status, 200, 'another address');
    // The endpoint's own rule, not the address's overall budget: other routes still answer it.
    assert.equal((await request(srv, null, 'GET', '/api/v1/openapi.json', undefined, from('203.0.113.7'))).status, 200);
    const health = await request(srv, null, 'GET', '/healthz', undefined, from('203.0.113.7'));
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('ratelimit-limit'), null, 'health probes are not limited');
    clock.advance(40_000);
    assert.equal((await request(srv, null, 'GET', '/api/v1/setup', undefined, from('203.0.113.7'))).status, 200, 'a new window');
  });

  it('per API token: the token is refused past its limit, another token and the user who made it are not', async () => {
    clock.advance(61_000);
    const path = secretsPath('app', 'development', 'KEY');
    for (let i = 0; i < 4; i++) {
      const res = await request(srv, readToken, 'GET', path);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('ratelimit-limit'), '4', 'the tightest limit charged is shown');
    }
    assertLimited(await request(srv, readToken, 'GET', path), 'http/*/token', 60);
    // Refused before the handler: no value in the refusal.
    assert.ok(!(await request(srv, readToken, 'GET', path)).text.includes('rate-limit-value'));
    assert.equal((await request(srv, otherToken, 'GET', path)).status, 200);
    assert.equal((await owner('GET', path)).status, 200);
  });

  it('per user: a signed-in user is refused past their limit, on every route; another member is not', async () => {
    clock.advance(61_000);
    for (let i = 0; i < 8; i++) assert.equal((await owner('GET', '/api/v1/me')).status, 200);
    assertLimited(await owner('GET', '/api/v1/me'), 'http/*/user', 60);
    assertLimited(await owner('GET', '/api/v1/projects/app'), 'http/*/user', 60);
    assert.equal((await developer('GET', '/api/v1/me')).status, 200);
  });

  it('per org on one endpoint: its members share the count; another org does not', async () => {
    clock.advance(61_000);
    assert.equal((await owner('GET', '/api/v1/projects')).status, 200);
    assert.equal((await owner('GET', '/api/v1/projects')).status, 200);
    const third = await developer('GET', '/api/v1/projects');
    assert.equal(third.status, 200);
    assert.equal(third.headers.get('ratelimit-remaining'), '0');
    assertLimited(await developer('GET', '/api/v1/projects'), 'http/GET /api/v1/projects/org', 60);
    assertLimited(await owner('GET', '/api/v1/projects'), 'http/GET /api/v1/projects/org', 60);
    assert.equal((await stranger('GET', '/api/v1/projects')).status, 200);
    assert.equal((await owner('GET', '/api/v1/projects/app/environments')).status, 200, 'other routes of the org are not counted there');
  });

  it('refusals are counted in the metrics and the security status, by limit', async () => {
    const metrics = await request(srv, METRICS_TOKEN, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.equal(sample(metrics.text, 'keynest_rate_limit_refusals_total', { limit: 'http/GET /api/v1/setup/ip' }), 3);
    assert.equal(sample(metrics.text, 'keynest_rate_limit_refusals_total', { limit: 'http/*/token' }), 2);
    assert.ok(!metrics.text.includes('203.0.113.7'), 'no address in a label');
    clock.advance(61_000);
    const status = await owner('GET', '/api/v1/security/status');
    assert.equal(status.status, 200, status.text);
    assert.equal(status.body.rateLimits.byLimit['http/*/user'], 2);
    assert.equal(status.body.rateLimits.byLimit['http/GET /api/v1/projects/org'], 2);
    assert.ok(status.body.rateLimits.refused >= 9);
  });
});

describe('the real defaults (no KEYNEST_RATE_LIMITS)', () => {
  const clock = manualClock();
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_RATE_LIMITS: '' } });
  });
  after(() => srv.close());

  it('authentication routes: 60 a minute from one address, all of them together; then 429 until the window ends', async () => {
    const session = await setupOwner(srv);
    const me = await request(srv, session.accessToken, 'GET', '/api/v1/me');
    // A signed-in user's tightest default is their own: 1200 a minute.
    assert.equal(me.headers.get('ratelimit-limit'), '1200');
    assert.equal(me.headers.get('ratelimit-remaining'), '1199');
    let passed = 1; // the setup itself
    for (; passed < 60; passed++) {
      const res = await request(srv, null, 'POST', '/api/v1/auth/refresh', { refreshToken: `kn_refresh_${'x'.repeat(43)}` });
      assertError(res, 401, 'invalid_refresh_token');
    }
    const refused = await request(srv, null, 'POST', '/api/v1/auth/refresh', { refreshToken: `kn_refresh_${'x'.repeat(43)}` });
    assertError(refused, 429, 'rate_limited');
    assert.equal(refused.body.error.details.limit, 'http/auth/ip');
    assert.equal(refused.headers.get('ratelimit-limit'), '60');
    assert.equal(refused.headers.get('retry-after'), '60');
    // Sign-in is an authentication route too: refused before any password is checked.
    assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: 'owner@example.com', password: 'whatever-it-is' }), 429, 'rate_limited');
    // Other routes from the same address are not.
    assert.equal((await request(srv, session.accessToken, 'GET', '/api/v1/me')).status, 200);
    clock.advance(60_000);
    assertError(await request(srv, null, 'POST', '/api/v1/auth/refresh', { refreshToken: `kn_refresh_${'x'.repeat(43)}` }), 401, 'invalid_refresh_token');
  });
});
