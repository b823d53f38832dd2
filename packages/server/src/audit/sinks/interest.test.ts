import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALERTS_CONSUMER } from '../../alerts/service.js';
import { api, setupOwner } from '../../test-support/api.js';
import { startServer } from '../../test-support/server.js';
import type { AuditContext } from '../service.js';
import { cursorOf } from './store.js';

/**
 * The alert engine reads the audit stream but wants only a few actions. Under a load of secret
 * reads, waking it for each batch of them would run a round (a read and a cursor write) every
 * 20 ms for nothing: it is woken only by the actions it wants, and passes over the others then.
 */
describe('audit stream: a consumer that wants only some actions', () => {
  it('is not woken by the others, and passes over them when one it wants arrives', async (t) => {
    // A poll far away, so only a wake-up can move the consumer during the test.
    const srv = await startServer({ env: { KEYNEST_AUDIT_SINK_POLL_MS: '60000' } });
    t.after(() => srv.close());
    const owner = api(srv, await setupOwner(srv));
    const orgId: string = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    const { audit } = srv.keynest.services;
    const ctx: AuditContext = { orgId, actor: { type: 'system', id: null }, ip: null, requestId: null, now: Date.now() };
    const system = <T>(work: () => Promise<T>) => srv.keynest.storage.tenancy.runAsSystem(work);
    const cursor = async () => Number((await system(() => cursorOf(srv.db, ALERTS_CONSUMER)))?.last_id);
    const newest = async () => Number((await system(() => srv.db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow())).id);

    await srv.keynest.auditSinkDispatcher.drain();
    const start = await cursor();
    assert.equal(start, await newest());

    for (let i = 0; i < 30; i++) await audit.recordAlone(ctx, { action: 'secret.read', details: { keys: [`K${i}`] } });
    // Ten times the wake-up delay: a woken consumer would have moved past them by now.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await cursor(), start, 'the consumer ran for records it does not want');

    await audit.recordAlone(ctx, { action: 'access.denied', outcome: 'failure' });
    const last = await newest();
    assert.ok(last > start);
    const until = Date.now() + 5000;
    while ((await cursor()) !== last && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await cursor(), last, 'woken by a record it wants, the consumer passed over the others');
  });
});
