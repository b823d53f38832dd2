import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../../testing.js';
import { startServer } from '../../test-support/server.js';
import { api, setupOwner, signIn, type Api } from '../../test-support/api.js';
import { addMember, createProject, getValue, marker, putSecret } from '../../test-support/fixtures.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../test-support/receivers.js';

/**
 * The threat: an org's audit webhook receives another org's records (who read which secret,
 * from where) — through a query that forgets its org, a shared worker, or the instance's own events.
 */
describe("an org sink receives its own org's records, never another org's", () => {
  let srv: TestServer;
  const receivers: Record<'a' | 'b', WebhookReceiver> = {} as never;
  const orgs = { a: '', b: '' };
  let a: Api;
  let b: Api;

  before(async () => {
    receivers.a = await startWebhookReceiver();
    receivers.b = await startWebhookReceiver();
    srv = await startServer({ env: { KEYNEST_WEBHOOK_ALLOW_PRIVATE: 'true', KEYNEST_WEBHOOK_ALLOW_HTTP: 'true' } });
    a = api(srv, await setupOwner(srv));
    orgs.a = (await a('GET', '/api/v1/me')).body.principal.org.id;
    const globex = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', Date.now()));
    orgs.b = globex.id;
    await addMember(srv.db, { orgId: orgs.b, role: 'owner', email: 'boss@globex.example', password: 'Globex-Heron-Basalt-4410', now: Date.now() });
    b = api(srv, await signIn(srv, { email: 'boss@globex.example', password: 'Globex-Heron-Basalt-4410' }));
  });
  after(async () => {
    await srv.close();
    await receivers.a.close();
    await receivers.b.close();
  });

  it('two orgs with a sink each, both busy, and instance events besides: each receiver gets exactly its org’s chain', async () => {
    for (const [who, call] of [['a', a], ['b', b]] as const) {
      assert.equal((await call('POST', '/api/v1/audit/sinks', { url: receivers[who].url })).status, 201);
    }
    for (const [who, call] of [['a', a], ['b', b]] as const) {
      await createProject(call, `app-${who}`);
      const value = marker(`VALUE${who}`);
      await putSecret(call, `app-${who}`, 'production', 'SHARED_NAME', value);
      assert.equal(await getValue(call, `app-${who}`, 'production', 'SHARED_NAME'), value);
    }
    // An instance event (no org): a failed sign-in with an unknown email.
    assert.equal((await api(srv)('POST', '/api/v1/auth/login', { email: 'nobody@nowhere.example', password: 'wrong-password-1' })).status, 401);
    await srv.keynest.auditSinkDispatcher.drain();

    for (const who of ['a', 'b'] as const) {
      const got = receivers[who].accepted();
      assert.ok(got.length >= 4, `${who} received ${got.length}`);
      assert.ok(got.every((r) => r.org_id === orgs[who] && r.chain === orgs[who]), `${who} received another org's (or the instance's) record`);
      const firstId = Number(got[0]!.id);
      const own = await srv.db.selectFrom('audit_events').select('id').where('org_id', '=', orgs[who]).where('id', '>=', firstId).orderBy('id').execute();
      assert.deepEqual(got.map((r) => Number(r.id)), own.map((r) => Number(r.id)), `${who} received all of its own, in order`);
      assert.ok(!receivers[who].deliveries.some((d) => d.body.includes('nobody@nowhere.example')));
    }
  });

  it("an org cannot see, test or remove another org's sink (404 sink_not_found, as if it did not exist)", async () => {
    const [sinkOfB] = (await b('GET', '/api/v1/audit/sinks')).body.sinks;
    assert.ok(sinkOfB);
    assert.ok(!(await a('GET', '/api/v1/audit/sinks')).text.includes(sinkOfB.id));
    assert.equal((await a('POST', `/api/v1/audit/sinks/${sinkOfB.id}/test`)).body.error.code, 'sink_not_found');
    assert.equal((await a('DELETE', `/api/v1/audit/sinks/${sinkOfB.id}`)).body.error.code, 'sink_not_found');
    assert.equal((await b('GET', '/api/v1/audit/sinks')).body.sinks.length, 1, 'still there');
  });
});
