import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '../../test-support/server.js';
import { api, setupOwner } from '../../test-support/api.js';
import { eventually, startWebhookReceiver } from '../../test-support/receivers.js';
import type { AuditContext } from '../service.js';

/**
 * On PostgreSQL ids are drawn before commit, and transactions commit in any order: an instance sink
 * that moved its cursor past a visible id would skip a smaller one still being committed. It
 * waits for the transactions that may hold the gap (sinks/horizon.ts) instead.
 */
describe('audit sink: ids that commit out of order (PostgreSQL)', () => {
  it('a record committed after a later id is delivered all the same, and in id order', async (t) => {
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    const srv = await startServer({
      env: { KEYNEST_AUDIT_SINK_WEBHOOK_URL: receiver.url, KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: 'commit-order-secret-0123456789abcdef', KEYNEST_WEBHOOK_ALLOW_HTTP: 'true' },
    });
    // Ended whatever happens, or the server's close would wait for the open transaction forever.
    let release = () => {};
    let slow: Promise<void> = Promise.resolve();
    try {
      if (srv.database !== 'postgres') return t.skip('SQLite writers take turns: its ids commit in order');
      const owner = api(srv, await setupOwner(srv));
      const orgId: string = (await owner('GET', '/api/v1/me')).body.principal.org.id;
      await srv.keynest.auditSinkDispatcher.drain();
      const { audit } = srv.keynest.services;
      const ctx = (org: string | null): AuditContext => ({ orgId: org, actor: { type: 'system', id: null }, ip: null, requestId: null, now: Date.now() });

      let recorded!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const inFlight = new Promise<void>((r) => (recorded = r));
      slow = srv.db.transaction().execute(async (trx) => {
        await audit.record(trx, ctx(orgId), { action: 'test.slow' });
        recorded();
        await held;
      });
      await inFlight;
      // Another chain, so it does not wait for the first: a larger id, committed first.
      await audit.recordAlone(ctx(null), { action: 'test.fast' });
      const fast = await srv.db.selectFrom('audit_events').select('id').where('action', '=', 'test.fast').executeTakeFirstOrThrow();
      // Give the sink every chance to (wrongly) move past the open gap.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!receiver.accepted().some((r) => r.action === 'test.fast'), 'nothing past the uncommitted id was delivered');

      release();
      await slow;
      await srv.keynest.auditSinkDispatcher.whenDelivered('instance-webhook', Number(fast.id));
      const got = receiver.accepted();
      const stored = await srv.db.selectFrom('audit_events').select(['id', 'action']).orderBy('id').execute();
      assert.deepEqual(got.map((r) => Number(r.id)), stored.map((r) => Number(r.id)));
      assert.ok(got.findIndex((r) => r.action === 'test.slow') < got.findIndex((r) => r.action === 'test.fast'));

      // A rolled-back insert leaves a gap for good: the sink passes it once no transaction can fill it.
      await srv.db
        .transaction()
        .execute(async (trx) => {
          await audit.record(trx, ctx(orgId), { action: 'test.rolled_back' });
          throw new Error('roll back');
        })
        .catch(() => {});
      await audit.recordAlone(ctx(null), { action: 'test.after_gap' });
      await srv.keynest.auditSinkDispatcher.drain();
      await eventually(() => receiver.accepted().some((r) => r.action === 'test.after_gap'), 'the record after the gap');
      assert.ok(!receiver.accepted().some((r) => r.action === 'test.rolled_back'));
    } finally {
      release();
      await slow.catch(() => {});
      await srv.close();
    }
  });
});
