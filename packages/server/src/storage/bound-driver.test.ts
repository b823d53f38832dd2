import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult } from 'kysely';
import { BoundDriver } from './postgres.js';
import type { TenantContext } from './tenancy.js';

/** A pool of one connection that records what runs on it. */
function fakeDriver(failBind = false) {
  const log: string[] = [];
  const connection: DatabaseConnection = {
    async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
      log.push(`query ${q.parameters.join(',')}`);
      if (failBind) throw new Error('connection lost');
      return { rows: [] };
    },
    streamQuery: () => {
      throw new Error('not used');
    },
  };
  const driver = {
    init: async () => {},
    acquireConnection: async () => (log.push('acquire'), connection),
    releaseConnection: async () => void log.push('release'),
    beginTransaction: async () => {},
    commitTransaction: async () => {},
    rollbackTransaction: async () => {},
    destroy: async () => {},
  } satisfies Driver;
  return { driver, log };
}

describe('BoundDriver: the tenant context reaches each connection it hands out', () => {
  it('binds role and context when a connection changes context, and only then (no round trip for the same org again)', async () => {
    const { driver, log } = fakeDriver();
    let ctx: TenantContext = { scope: 'org', orgId: 'org_a' };
    const bound = new BoundDriver(driver, { role: 'keynest_app', current: () => ctx });
    for (let i = 0; i < 3; i++) await bound.releaseConnection(await bound.acquireConnection());
    ctx = { scope: 'org', orgId: 'org_b' };
    await bound.releaseConnection(await bound.acquireConnection());
    ctx = { scope: 'system', orgId: null };
    await bound.releaseConnection(await bound.acquireConnection());
    await bound.releaseConnection(await bound.acquireConnection());
    assert.deepEqual(log.filter((l) => l.startsWith('query')), ['query keynest_app,org_a,org', 'query keynest_app,org_b,org', 'query keynest_app,,system']);
  });

  it('a connection that fails to bind goes back to the pool, and the error reaches the caller', async () => {
    const { driver, log } = fakeDriver(true);
    const bound = new BoundDriver(driver, { role: 'keynest_app', current: () => ({ scope: 'org', orgId: 'org_a' }) });
    await assert.rejects(bound.acquireConnection(), /connection lost/);
    assert.deepEqual(log, ['acquire', 'query keynest_app,org_a,org', 'release']);
  });

  it('with a pool for system work, system connections come from it and org connections stay bound to their org', async () => {
    const org = fakeDriver();
    const system = fakeDriver();
    let ctx: TenantContext = { scope: 'org', orgId: 'org_a' };
    const bound = new BoundDriver(org.driver, { role: 'keynest_app', current: () => ctx }, system.driver);
    for (const next of [{ scope: 'org', orgId: 'org_a' }, { scope: 'system', orgId: null }, { scope: 'org', orgId: 'org_a' }, { scope: 'system', orgId: null }] as TenantContext[]) {
      ctx = next;
      const c = await bound.acquireConnection();
      await bound.beginTransaction(c, {});
      await bound.commitTransaction(c);
      await bound.releaseConnection(c);
    }
    // Each connection bound once: alternating between org and system work rebinds nothing.
    assert.deepEqual(org.log, ['acquire', 'query keynest_app,org_a,org', 'release', 'acquire', 'release']);
    assert.deepEqual(system.log, ['acquire', 'query keynest_app,,system', 'release', 'acquire', 'release']);
  });
});
