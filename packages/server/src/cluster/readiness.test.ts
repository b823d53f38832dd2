import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, request, setupOwner } from '../test-support/api.js';
import { eventually } from '../test-support/receivers.js';
import { redisPrefix, sharedRedisOrSkip, startPrivateRedis, type PrivateRedis } from '../test-support/redis.js';

const shared = await sharedRedisOrSkip();

/** The log lines (parsed) whose message contains `text`. */
function logLines(srv: TestServer, text: string): { level: number; msg: string; reason?: string }[] {
  return srv
    .logText()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => typeof l.msg === 'string' && l.msg.includes(text));
}

const WENT_AWAY = 'Redis is unreachable';
const CAME_BACK = 'Redis is reachable again';

async function readyz(srv: TestServer) {
  return request(srv, null, 'GET', '/readyz');
}

describe('/healthz and /readyz on one instance', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('/healthz says the process is alive; /readyz names one status word per component and nothing else', async () => {
    const health = await request(srv, null, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await readyz(srv);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', database: 'up', redis: 'off', keyring: 'ready' });
    assert.equal(ready.headers.get('cache-control'), 'no-store');
    const head = await fetch(`${srv.url}/readyz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('once draining begins, /readyz answers 503 "draining" and every answer asks the client to close its connection', async () => {
    srv.keynest.beginDrain();
    const ready = await readyz(srv);
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.body, { status: 'draining', database: 'up', redis: 'off', keyring: 'ready' });
    assert.equal(ready.headers.get('connection'), 'close');
    // Still serving meanwhile: the load balancer takes the instance out before anything is refused.
    const health = await request(srv, null, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('connection'), 'close');
  });
});

describe('/readyz when the database is gone', () => {
  it('answers 503 "unavailable" naming the database, and nothing of the error', async () => {
    const srv = await startServer({ leakCheck: false });
    try {
      await srv.keynest.storage.close();
      const ready = await readyz(srv);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body, { status: 'unavailable', database: 'down', redis: 'off', keyring: 'ready' });
      assert.equal((await request(srv, null, 'GET', '/healthz')).status, 200, 'alive all the same');
    } finally {
      // Its database is already closed: closing again may complain, and cannot drop its schema.
      await srv.close().catch(() => {});
      if (srv.schema) {
        const client = new pg.Client({ connectionString: process.env.KEYNEST_TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(srv.schema)} CASCADE`);
        await client.end();
      }
    }
  });
});

describe('/readyz with Redis', { skip: shared.skip }, () => {
  it('says redis "up" when KEYNEST_REDIS_URL answers', async () => {
    const srv = await startServer({ env: { KEYNEST_REDIS_URL: shared.url!, KEYNEST_REDIS_PREFIX: redisPrefix() } });
    try {
      const ready = await readyz(srv);
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ready', database: 'up', redis: 'up', keyring: 'ready' });
      assert.equal(logLines(srv, 'connected to Redis').length, 1);
    } finally {
      await srv.close();
    }
  });
});

describe('Redis going away and coming back (one instance, a redis-server of its own)', { skip: shared.skip }, () => {
  let redis: PrivateRedis;
  let srv: TestServer;
  before(async () => {
    redis = await startPrivateRedis();
    srv = await startServer({ env: { KEYNEST_REDIS_URL: redis.url, KEYNEST_REDIS_PREFIX: redisPrefix(), KEYNEST_LOGIN_RATE_IP: '3/60' } });
    await setupOwner(srv);
  });
  after(async () => {
    await srv.close();
    await redis.stop();
  });

  it('keeps serving with local limits, says "degraded" (still 200) and logs it once; says so once when Redis is back', async () => {
    assert.deepEqual((await readyz(srv)).body, { status: 'ready', database: 'up', redis: 'up', keyring: 'ready' });
    await redis.stop();
    await eventually(() => logLines(srv, WENT_AWAY).length > 0, 'the warning that Redis went away', 10_000);
    const ready = await readyz(srv);
    assert.equal(ready.status, 200, 'a load balancer must not take every instance out because their shared Redis is down');
    assert.deepEqual(ready.body, { status: 'degraded', database: 'up', redis: 'down', keyring: 'ready' });

    // Serving: sign-in attempts are answered, and limited by this instance's own counts.
    for (let i = 0; i < 3; i++) assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: `nobody${i}@example.com`, password: 'wrong password 123' }), 401, 'invalid_credentials');
    assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: 'nobody9@example.com', password: 'wrong password 123' }), 429, 'rate_limited');
    const owner = await request(srv, null, 'GET', '/api/v1/setup');
    assert.equal(owner.status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await readyz(srv)).status, 200);

    const warnings = logLines(srv, WENT_AWAY);
    assert.equal(warnings.length, 1, 'one warning for the outage, not one per request or per reconnect attempt');
    assert.equal(warnings[0]!.level, 40);
    assert.ok(!srv.logText().includes(redis.url), 'the Redis URL is not logged');

    await redis.start();
    await eventually(() => logLines(srv, CAME_BACK).length > 0, 'the notice that Redis is back', 15_000);
    assert.deepEqual((await readyz(srv)).body, { status: 'ready', database: 'up', redis: 'up', keyring: 'ready' });
    // Shared counting resumes (the restarted Redis is empty): the same address may try again.
    assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: 'wrong password 123' }), 401, 'invalid_credentials');
    assert.equal(logLines(srv, CAME_BACK).length, 1);
    assert.equal(logLines(srv, WENT_AWAY).length, 1);
  });

  it('starts without Redis (degraded), and joins it once it answers', async () => {
    await redis.stop();
    const alone = await startServer({ env: { KEYNEST_REDIS_URL: redis.url, KEYNEST_REDIS_PREFIX: redisPrefix() } });
    try {
      assert.deepEqual((await readyz(alone)).body, { status: 'degraded', database: 'up', redis: 'down', keyring: 'ready' });
      assert.equal((await api(alone)('GET', '/api/v1/setup')).status, 200);
      assert.equal(logLines(alone, WENT_AWAY).length, 1);
      await redis.start();
      await eventually(() => logLines(alone, CAME_BACK).length > 0, 'the notice that Redis is reachable', 15_000);
      assert.equal((await readyz(alone)).body.status, 'ready');
    } finally {
      await alone.close();
    }
  });
});
