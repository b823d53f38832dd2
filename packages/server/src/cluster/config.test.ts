import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config.js';
import { refusedConfig } from '../test-support/config.js';

const failure = refusedConfig;

describe('cluster settings', () => {
  it('default to one instance alone, a 5 s drain grace and the keynest: prefix', () => {
    assert.deepEqual(loadConfig({}).cluster, { redisUrl: undefined, redisPrefix: 'keynest:', drainGraceMs: 5000 });
  });

  it('take redis:// and rediss:// URLs, with a password and a database number', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://:s3cret@redis.internal:6380/2', 'redis://user:pw@[::1]:6379']) {
      assert.equal(loadConfig({ KEYNEST_REDIS_URL: url }).cluster.redisUrl, url);
    }
    assert.equal(loadConfig({ KEYNEST_REDIS_PREFIX: 'prod-eu:', KEYNEST_DRAIN_GRACE_MS: '0' }).cluster.redisPrefix, 'prod-eu:');
  });

  it('refuse anything else with one line naming the variable, never echoing the URL (it may hold a password)', () => {
    for (const url of ['http://:hunter2secret@redis:6379', 'hunter2secret', 'redis://:hunter2secret@redis:6379/db', 'redis://:hunter2secret@/']) {
      const message = failure({ KEYNEST_REDIS_URL: url }, 'KEYNEST_REDIS_URL');
      assert.ok(!message.includes('hunter2secret'), message);
    }
    failure({ KEYNEST_REDIS_PREFIX: 'has space' }, 'KEYNEST_REDIS_PREFIX');
    failure({ KEYNEST_REDIS_PREFIX: 'x'.repeat(65) }, 'KEYNEST_REDIS_PREFIX');
    failure({ KEYNEST_DRAIN_GRACE_MS: '-1' }, 'KEYNEST_DRAIN_GRACE_MS');
    failure({ KEYNEST_DRAIN_GRACE_MS: '120001' }, 'KEYNEST_DRAIN_GRACE_MS');
  });
});
