import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { createLogger } from '../logger.js';
import { memoryLimiters, redisLimiters } from './limiter-store.js';
import { RedisLink } from './redis.js';
import { redisPrefix, sharedRedisOrSkip, startPrivateRedis, type PrivateRedis } from '../test-support/redis.js';

const shared = await sharedRedisOrSkip();
const log = createLogger('silent');

/** Consumes one point; 'ok' or 'refused' (a RateLimiterRes rejection), anything else throws. */
async function take(limiter: { consume(key: string): Promise<unknown> }, key: string): Promise<'ok' | 'refused'> {
  try {
    await limiter.consume(key);
    return 'ok';
  } catch (err) {
    if (err instanceof RateLimiterRes) return 'refused';
    throw err;
  }
}

describe('LimiterStore', () => {
  it('in memory: each store counts alone', async () => {
    const [a, b] = [memoryLimiters('x', 2, 60), memoryLimiters('x', 2, 60)];
    assert.deepEqual([await take(a, 'k'), await take(a, 'k'), await take(a, 'k'), await take(b, 'k')], ['ok', 'ok', 'refused', 'ok']);
  });
});

describe('LimiterStore in Redis', { skip: shared.skip }, () => {
  let redis: PrivateRedis;
  let one: RedisLink;
  let two: RedisLink;
  before(async () => {
    redis = await startPrivateRedis();
    one = await RedisLink.connect(redis.url, log);
    two = await RedisLink.connect(redis.url, log);
  });
  after(async () => {
    await one.close();
    await two.close();
    await redis.stop();
  });

  it('two instances count together under one name, apart under another or another prefix', async () => {
    const prefix = redisPrefix();
    const onA = redisLimiters(one, prefix)('login-ip', 3, 60);
    const onB = redisLimiters(two, prefix)('login-ip', 3, 60);
    assert.deepEqual([await take(onA, '192.0.2.1'), await take(onB, '192.0.2.1'), await take(onA, '192.0.2.1'), await take(onB, '192.0.2.1')], ['ok', 'ok', 'ok', 'refused']);
    assert.equal(await take(redisLimiters(two, prefix)('login-acct-ip', 3, 60), '192.0.2.1'), 'ok', 'another name');
    assert.equal(await take(redisLimiters(two, redisPrefix())('login-ip', 3, 60), '192.0.2.1'), 'ok', 'another deployment');
    const raw = (await one.commands.keys(`${prefix}*`)).sort();
    assert.deepEqual(raw, [`${prefix}rl:login-acct-ip:192.0.2.1`, `${prefix}rl:login-ip:192.0.2.1`]);
    assert.ok((await one.commands.pttl(raw[0]!)) > 0, 'the counter expires with its window');
  });

  it('while Redis is away, counts in memory at once (no error, no wait for a connection) with the same limit', async () => {
    const limiter = redisLimiters(one, redisPrefix())('login-ip', 2, 60);
    await redis.stop();
    while (one.state === 'up') await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([await take(limiter, '192.0.2.9'), await take(limiter, '192.0.2.9'), await take(limiter, '192.0.2.9')], ['ok', 'ok', 'refused']);
    await redis.start();
  });
});
