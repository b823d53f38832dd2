import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Invalidation, TtlCache } from './cache.js';

describe('TtlCache', () => {
  it('forgets entries after the TTL, by the injected clock', () => {
    const c = new TtlCache<string, number>(1000, 10);
    c.set('a', 1, 0, c.epoch);
    assert.equal(c.get('a', 999), 1);
    assert.equal(c.get('a', 1000), undefined);
  });

  it('does not store a row read before an invalidation that happened while it was being read', () => {
    const c = new TtlCache<string, { id: string }>(1000, 10);
    const epoch = c.epoch; // a request starts its database read…
    c.deleteWhere((v) => v.id === 'tok_1'); // …a revocation is announced meanwhile…
    c.set('digest', { id: 'tok_1' }, 0, epoch); // …and the stale row comes back
    assert.equal(c.get('digest', 1), undefined);
  });

  it('stays bounded', () => {
    const c = new TtlCache<number, number>(1000, 3);
    for (let i = 0; i < 10; i++) c.set(i, i, 0, c.epoch);
    assert.ok([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((i) => c.get(i, 1) !== undefined).length <= 3);
  });
});

describe('Invalidation', () => {
  it('tells every subscriber', () => {
    const bus = new Invalidation();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`a:${e.type}`));
    bus.subscribe((e) => seen.push(`b:${e.type}`));
    bus.publish({ type: 'token.revoked', tokenId: 'tok_1' });
    assert.deepEqual(seen, ['a:token.revoked', 'b:token.revoked']);
  });
});
