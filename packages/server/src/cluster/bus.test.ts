import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { HOT_CACHE_TTL_MS, Invalidation } from '../cache.js';
import { SecretValueCache } from '../secrets/value-cache.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, OWNER, setupOwner, signIn } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { eventually } from '../test-support/receivers.js';
import { redisPrefix, sharedRedisOrSkip } from '../test-support/redis.js';
import { pollUntil } from '../test-support/cluster.js';

const shared = await sharedRedisOrSkip();

describe('the invalidation bus over Redis (one instance, the test as the other end)', { skip: shared.skip }, () => {
  // Frozen: cached rows never expire, so only a message on the bus can make the instance re-read one.
  const clock = manualClock();
  const prefix = redisPrefix();
  const channel = `${prefix}invalidation`;
  let srv: TestServer;
  let peer: Redis;
  let listener: Redis;
  const heard: string[] = [];

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_REDIS_URL: shared.url!, KEYNEST_REDIS_PREFIX: prefix } });
    peer = new Redis(shared.url!);
    listener = new Redis(shared.url!);
    listener.on('message', (ch: string, text: string) => {
      if (ch === channel) heard.push(text);
    });
    await listener.subscribe(channel);
  });
  after(async () => {
    await srv.close();
    peer.disconnect();
    listener.disconnect();
  });

  it('a revocation is announced with its type, one id and the sender: never the token', async () => {
    const owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    const doomed = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    heard.length = 0;
    assert.equal((await owner('DELETE', `/api/v1/tokens/${doomed.info.id}`)).status, 204);
    await eventually(() => heard.some((t) => t.includes(doomed.info.id)), 'the revocation on the channel', 1000);
    const message = JSON.parse(heard.find((t) => t.includes(doomed.info.id))!) as Record<string, unknown>;
    assert.deepEqual(message, { v: 1, from: srv.keynest.cluster.bus!.instanceId, type: 'token.revoked', id: doomed.info.id });
    assert.ok(!heard.join('\n').includes(doomed.token), 'the token never crosses the wire');
  });

  it("another instance's message drops the cached row; malformed messages and the instance's own echo do not", async () => {
    const call = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));
    await putSecret(call, 'app', 'development', 'KEY', 'bus-test-value');
    const t = await createToken(call, { project: 'app', environment: 'development', access: 'read' });
    const marker = await createToken(call, { project: 'app', environment: 'development', access: 'read' });
    const reader = api(srv, t.token);
    const markerReader = api(srv, marker.token);
    assert.equal((await reader('GET', secretsPath('app', 'development', 'KEY'))).status, 200);
    assert.equal((await markerReader('GET', secretsPath('app', 'development', 'KEY'))).status, 200);
    // Revoked behind the instance's back (as another instance's revocation would be): the cached rows still say live.
    await srv.owner.updateTable('api_tokens').set({ revoked_at: clock() }).where('id', 'in', [t.info.id, marker.info.id]).execute();
    assert.equal((await reader('GET', secretsPath('app', 'development', 'KEY'))).status, 200, 'served from the cache until told');

    const ownId = srv.keynest.cluster.bus!.instanceId;
    for (const junk of [
      'not json',
      JSON.stringify({ v: 2, from: 'peer', type: 'token.revoked', id: t.info.id }),
      JSON.stringify({ v: 1, from: 'peer', type: 'everything.revoked', id: t.info.id }),
      JSON.stringify({ v: 1, from: 'peer', type: 'token.revoked', id: `${t.info.id}' OR 1=1` }),
      JSON.stringify({ v: 1, from: 'peer', type: 'token.revoked', id: { $ne: null } }),
      JSON.stringify({ v: 1, from: 'peer', type: '__proto__', id: t.info.id }),
      JSON.stringify({ v: 1, from: ownId, type: 'token.revoked', id: t.info.id }),
    ]) {
      await peer.publish(channel, junk);
    }
    // Then a good message about the other token: once the instance acted on it, it had read the junk
    // before it (one connection, one subscriber, in order).
    await peer.publish(channel, JSON.stringify({ v: 1, from: 'peer', type: 'token.revoked', id: marker.info.id }));
    await pollUntil(async () => (await markerReader('GET', secretsPath('app', 'development', 'KEY'))).status === 401, 'the good message acted on', 1000);
    assert.equal((await reader('GET', secretsPath('app', 'development', 'KEY'))).status, 200, 'junk and the own echo changed nothing');

    await peer.publish(channel, JSON.stringify({ v: 1, from: 'peer', type: 'token.revoked', id: t.info.id }));
    const deadline = Date.now() + 1000;
    let status = 200;
    while (Date.now() < deadline && status === 200) status = (await reader('GET', secretsPath('app', 'development', 'KEY'))).status;
    assert.equal(status, 401, 'refused within 1 s of the message');
  });
});

describe('the value cache while the cluster bus is down', () => {
  const where = { projectId: 'prj_a', environmentId: 'env_a' };
  const item = { key: 'K', value: 'v' };

  it('keeps entries for their TTL while every instance hears writes', () => {
    const bus = new Invalidation();
    const cache = new SecretValueCache({ ttlMs: 30_000, maxBytes: 1 << 20 }, bus);
    cache.putOne(where, 'K', item, 1000, cache.epoch);
    assert.deepEqual(cache.getOne('env_a', 'K', 1000 + 20_000), item);
  });

  it('caps entries loaded while it is down, or before it came back, at the short TTL', () => {
    const bus = new Invalidation();
    const cache = new SecretValueCache({ ttlMs: 30_000, maxBytes: 1 << 20 }, bus);
    bus.setSharedSince(null);
    cache.putOne(where, 'K', item, 1000, cache.epoch);
    assert.deepEqual(cache.getOne('env_a', 'K', 1000 + HOT_CACHE_TTL_MS - 1), item);
    assert.equal(cache.getOne('env_a', 'K', 1000 + HOT_CACHE_TTL_MS), undefined);
    cache.putOne(where, 'K', item, 5000, cache.epoch);
    bus.setSharedSince(5500);
    assert.equal(cache.getOne('env_a', 'K', 5000 + HOT_CACHE_TTL_MS), undefined, 'loaded before the bus came back: writes may have been missed');
    cache.putOne(where, 'K', item, 6000, cache.epoch);
    assert.deepEqual(cache.getOne('env_a', 'K', 6000 + 20_000), item, 'loaded since: the full TTL again');
  });
});
