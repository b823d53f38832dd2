import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HOT_CACHE_TTL_MS } from '../cache.js';
import { TEST_RATE_LIMITS } from '../testing.js';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, request, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { addMember, createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { eventually } from '../test-support/receivers.js';
import { clusterSkip, pollUntil, TestCluster } from '../test-support/cluster.js';
import { redisPrefix, sharedRedisOrSkip, startPrivateRedis, type PrivateRedis } from '../test-support/redis.js';

// Two instances, one PostgreSQL schema, one Redis. Their clock is frozen: cached rows and values
// never expire by age, so B can only learn of A's change through the bus (the TTL cannot hide a
// broken bus). "Within 1 s" is a poll of up to 1 s of real time.
const shared = clusterSkip ? { url: undefined, skip: clusterSkip } : await sharedRedisOrSkip();
const WITHIN_MS = 1000;
const MEMBER = { email: 'dev@cluster.test', password: 'Copper-Lantern-Orbit-5521' };
const value = (call: Api) => call('GET', secretsPath('app', 'development', 'KEY'));
const statusOf = async (p: Promise<{ status: number }>) => (await p).status;
const LIMITED_ROUTE = '/api/v1/projects/:project/environments/:env/secrets';

describe('two instances behind one Redis act as one', { skip: shared.skip }, () => {
  const clock = manualClock();
  let cluster: TestCluster;
  let a: TestServer;
  let b: TestServer;
  let ownerA: Api;
  let ownerB: Api;
  let orgId: string;

  before(async () => {
    cluster = new TestCluster({
      clock,
      env: {
        KEYNEST_REDIS_URL: shared.url!,
        KEYNEST_REDIS_PREFIX: redisPrefix(),
        KEYNEST_LOGIN_RATE_IP: '6/600',
        // One route an API token may call 6 times in 10 minutes: in all, on whichever instance.
        KEYNEST_RATE_LIMITS: `${TEST_RATE_LIMITS}; GET ${LIMITED_ROUTE}@token=6/600`,
      },
    });
    a = await cluster.add();
    ownerA = api(a, await setupOwner(a));
    b = await cluster.add();
    ownerB = api(b, await signIn(b, { email: OWNER.email, password: OWNER.password }));
    orgId = (await ownerA('GET', '/api/v1/me')).body.principal.org.id;
    await createProject(ownerA, 'app');
    await putSecret(ownerA, 'app', 'development', 'KEY', 'first-cluster-value');
  });
  after(() => cluster?.close());

  it('both are ready and share Redis', async () => {
    for (const srv of [a, b]) assert.deepEqual((await request(srv, null, 'GET', '/readyz')).body, { status: 'ready', database: 'up', redis: 'up', keyring: 'ready' });
  });

  it('an API token revoked on A is refused by B within 1 s', async () => {
    const t = await createToken(ownerA, { project: 'app', environment: 'development', access: 'read' });
    const onB = api(b, t.token);
    assert.equal(await statusOf(value(onB)), 200);
    assert.equal((await ownerA('DELETE', `/api/v1/tokens/${t.info.id}`)).status, 204);
    await pollUntil(async () => (await value(onB)).status === 401, 'B refuses the revoked token', WITHIN_MS);
    assertError(await value(onB), 401, 'unauthenticated');
  });

  it('a session signed out on A is refused on B within 1 s', async () => {
    const session = await signIn(a, { email: OWNER.email, password: OWNER.password });
    const onB = api(b, session.accessToken);
    assert.equal(await statusOf(value(onB)), 200);
    assert.equal((await api(a, session.accessToken)('POST', '/api/v1/auth/logout')).status, 204);
    await pollUntil(async () => (await value(onB)).status === 401, 'B refuses the ended session', WITHIN_MS);
  });

  it('a role change made on A holds on B within 1 s', async () => {
    const userId = await addMember(a.db, { orgId, role: 'developer', email: MEMBER.email, password: MEMBER.password, now: clock() });
    const dev = api(b, (await signIn(b, MEMBER)).accessToken);
    assert.equal(await statusOf(value(dev)), 200, 'a developer reads development values');
    assert.equal((await ownerA('PATCH', `/api/v1/org/members/${userId}`, { role: 'viewer' })).status, 200);
    await pollUntil(async () => (await value(dev)).status === 403, 'B treats the member as a viewer (keys, never values)', WITHIN_MS);
    assert.equal(await statusOf(dev('GET', `${secretsPath('app', 'development')}?values=false`)), 200, 'a viewer still lists keys');
  });

  it('a secret written on A is read fresh on B within 1 s', async () => {
    assert.equal((await value(ownerB)).body.value, 'first-cluster-value');
    await putSecret(ownerA, 'app', 'development', 'KEY', 'second-cluster-value');
    await pollUntil(async () => (await value(ownerB)).body.value === 'second-cluster-value', 'B answers the new value', WITHIN_MS);
  });

  it('sign-in attempts split across A and B meet the limit at their combined count', async () => {
    // KEYNEST_LOGIN_RATE_IP=6/600: three failures on each is six from this address.
    for (let i = 0; i < 6; i++) {
      const srv = i % 2 === 0 ? a : b;
      assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: `guess${i}@cluster.test`, password: 'not the password 1' }), 401, 'invalid_credentials');
    }
    for (const srv of [a, b]) assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: 'guess9@cluster.test', password: 'not the password 1' }), 429, 'rate_limited');
  });

  it("an API token's requests split across A and B meet its rate limit at their combined count (the counters are in Redis)", async () => {
    const t = await createToken(ownerA, { project: 'app', environment: 'development', access: 'read' });
    const list = (srv: TestServer) => api(srv, t.token)('GET', secretsPath('app', 'development'));
    for (let i = 0; i < 6; i++) {
      const res = await list(i % 2 === 0 ? a : b);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('ratelimit-remaining'), String(5 - i), 'each instance sees the count of both');
    }
    for (const srv of [a, b]) {
      const refused = await list(srv);
      assertError(refused, 429, 'rate_limited');
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
    }
  });

  it('an IP allowlist turned on at A refuses on B within 1 s', async () => {
    const t = await createToken(ownerA, { project: 'app', environment: 'development', access: 'read' });
    const onB = api(b, t.token);
    assert.equal(await statusOf(value(onB)), 200);
    assert.equal((await ownerA('POST', '/api/v1/org/allowlist/entries', { cidr: '192.0.2.0/24' })).status, 201);
    assert.equal((await ownerA('PATCH', '/api/v1/org/allowlist', { enabled: true, confirmLockout: true })).status, 200);
    await pollUntil(async () => (await value(onB)).status === 403, 'B applies the new allowlist', WITHIN_MS);
    assertError(await value(onB), 403, 'ip_not_allowed');
  });
});

describe('two instances when their Redis goes away and comes back', { skip: shared.skip }, () => {
  const clock = manualClock();
  let redis: PrivateRedis;
  let cluster: TestCluster;
  let a: TestServer;
  let b: TestServer;
  let ownerA: Api;

  const lines = (srv: TestServer, text: string) => srv.logText().split('\n').filter((l) => l.startsWith('{') && (JSON.parse(l) as { msg?: string }).msg?.includes(text));

  before(async () => {
    redis = await startPrivateRedis();
    cluster = new TestCluster({ clock, env: { KEYNEST_REDIS_URL: redis.url, KEYNEST_REDIS_PREFIX: redisPrefix() } });
    a = await cluster.add();
    ownerA = api(a, await setupOwner(a));
    b = await cluster.add();
    await createProject(ownerA, 'app');
    await putSecret(ownerA, 'app', 'development', 'KEY', 'outage-value');
  });
  after(async () => {
    await cluster?.close();
    await redis?.stop();
  });

  it('both keep serving and say "degraded" (once in their logs); a revocation still holds after the cache TTL; both recover', async () => {
    const t1 = await createToken(ownerA, { project: 'app', environment: 'development', access: 'read' });
    const t2 = await createToken(ownerA, { project: 'app', environment: 'development', access: 'read' });
    for (const t of [t1, t2]) assert.equal(await statusOf(value(api(b, t.token))), 200);

    await redis.stop();
    for (const srv of [a, b]) await eventually(() => lines(srv, 'Redis is unreachable').length > 0, 'the warning', 10_000);
    for (const srv of [a, b]) {
      const ready = await request(srv, null, 'GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'degraded', database: 'up', redis: 'down', keyring: 'ready' });
      assert.equal(await statusOf(value(api(srv, t2.token))), 200, 'still serving');
    }
    // Without the bus, B learns of A's revocation when its cached row expires: HOT_CACHE_TTL_MS at most.
    assert.equal((await ownerA('DELETE', `/api/v1/tokens/${t1.info.id}`)).status, 204);
    clock.advance(HOT_CACHE_TTL_MS);
    assertError(await value(api(b, t1.token)), 401, 'unauthenticated');
    for (const srv of [a, b]) assert.equal(lines(srv, 'Redis is unreachable').length, 1, 'one warning per instance for the outage');

    await redis.start();
    for (const srv of [a, b]) await eventually(() => lines(srv, 'Redis is reachable again').length > 0, 'the notice that Redis is back', 15_000);
    for (const srv of [a, b]) assert.deepEqual((await request(srv, null, 'GET', '/readyz')).body, { status: 'ready', database: 'up', redis: 'up', keyring: 'ready' });
    // The bus carries revocations again, with the clock frozen: only it can tell B.
    assert.equal(await statusOf(value(api(b, t2.token))), 200);
    assert.equal((await ownerA('DELETE', `/api/v1/tokens/${t2.info.id}`)).status, 204);
    await pollUntil(async () => (await value(api(b, t2.token))).status === 401, 'B refuses the token revoked on A', WITHIN_MS);
    for (const srv of [a, b]) assert.equal(lines(srv, 'Redis is reachable again').length, 1);
  });
});
