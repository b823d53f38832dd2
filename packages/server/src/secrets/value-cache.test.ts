import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Invalidation } from '../cache.js';
import { SecretValueCache } from './value-cache.js';

const ENV = { projectId: 'prj_1', environmentId: 'env_1' };
const OTHER = { projectId: 'prj_2', environmentId: 'env_2' };
const item = (key: string, value = `value-of-${key}`) => Object.freeze({ key, value });

function cache(opts: { ttlMs?: number; maxBytes?: number } = {}) {
  const bus = new Invalidation();
  return { bus, c: new SecretValueCache<{ key: string; value: string }>({ ttlMs: opts.ttlMs ?? 1000, maxBytes: opts.maxBytes ?? 1 << 20 }, bus) };
}

describe('SecretValueCache', () => {
  it('answers from a loaded list for any key, and knows which keys are absent', () => {
    const { c } = cache();
    const all = c.putAll(ENV, [item('A'), item('B')], 0, c.epoch);
    assert.ok(Object.isFrozen(all));
    assert.equal(c.getAll(ENV.environmentId, 1), all, 'the same array while cached');
    assert.equal(c.getOne(ENV.environmentId, 'B', 1)?.value, 'value-of-B');
    assert.equal(c.getOne(ENV.environmentId, 'NOPE', 1), null);
  });

  it('a single key cached alone does not pretend to know the others', () => {
    const { c } = cache();
    c.putOne(ENV, 'A', item('A'), 0, c.epoch);
    c.putOne(ENV, 'GONE', null, 0, c.epoch);
    assert.equal(c.getOne(ENV.environmentId, 'A', 1)?.value, 'value-of-A');
    assert.equal(c.getOne(ENV.environmentId, 'GONE', 1), null);
    assert.equal(c.getOne(ENV.environmentId, 'B', 1), undefined);
    assert.equal(c.getAll(ENV.environmentId, 1), undefined);
  });

  it('forgets an environment after the TTL, by the injected clock', () => {
    const { c } = cache({ ttlMs: 1000 });
    c.putAll(ENV, [item('A')], 0, c.epoch);
    assert.ok(c.getAll(ENV.environmentId, 999));
    assert.equal(c.getAll(ENV.environmentId, 1000), undefined);
    assert.equal(c.getOne(ENV.environmentId, 'A', 1000), undefined);
  });

  it('a write drops its environment only; deleting a project drops all of its environments', () => {
    const { c, bus } = cache();
    c.putAll(ENV, [item('A')], 0, c.epoch);
    c.putAll(OTHER, [item('B')], 0, c.epoch);
    bus.publish({ type: 'secrets.changed', environmentId: ENV.environmentId });
    assert.equal(c.getAll(ENV.environmentId, 1), undefined);
    assert.ok(c.getAll(OTHER.environmentId, 1));
    bus.publish({ type: 'project.deleted', projectId: OTHER.projectId });
    assert.equal(c.getAll(OTHER.environmentId, 1), undefined);
  });

  it('does not keep values loaded across a write that committed meanwhile', () => {
    const { c, bus } = cache();
    const epoch = c.epoch; // a read starts loading…
    bus.publish({ type: 'secrets.changed', environmentId: ENV.environmentId }); // …a write commits…
    const answered = c.putAll(ENV, [item('A', 'old')], 0, epoch); // …and the old values arrive
    assert.equal(answered[0]?.value, 'old', 'the racing read still answers what it read');
    assert.equal(c.getAll(ENV.environmentId, 1), undefined, 'but it is not kept');
    c.putOne(ENV, 'A', item('A', 'old'), 0, epoch);
    assert.equal(c.getOne(ENV.environmentId, 'A', 1), undefined);
  });

  it('stays within its byte budget and never caches with a TTL of 0', () => {
    const { c } = cache({ maxBytes: 4096 });
    c.putAll(ENV, [item('BIG', 'x'.repeat(4096))], 0, c.epoch);
    assert.equal(c.getAll(ENV.environmentId, 1), undefined, 'larger than the whole budget: not cached');
    for (let i = 0; i < 20; i++) c.putOne(ENV, `K${i}`, item(`K${i}`, 'y'.repeat(100)), 0, c.epoch);
    const kept = Array.from({ length: 20 }, (_, i) => c.getOne(ENV.environmentId, `K${i}`, 1)).filter(Boolean).length;
    assert.ok(kept > 0 && kept < 20, `kept ${kept} of 20 within 4 KiB`);
    const off = cache({ ttlMs: 0 }).c;
    off.putAll(ENV, [item('A')], 0, off.epoch);
    assert.equal(off.getAll(ENV.environmentId, 0), undefined);
  });
});
