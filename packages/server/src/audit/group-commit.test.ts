import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { AuditService, type AuditContext } from './service.js';

/**
 * Reads arriving together share one audit commit (group commit). What must still hold: every read
 * gets its own record, with its own request id, before its value is answered.
 */
describe('read audit records under concurrency', () => {
  let srv: TestServer;
  let call: Api;
  before(async () => {
    srv = await startServer();
    call = api(srv, await setupOwner(srv));
    await createProject(call, 'app');
    await putSecret(call, 'app', 'development', 'API_KEY', 'value-for-group-commit');
  });
  after(() => srv.close());

  it('40 reads at once make 40 secret.read records, one per request id', async () => {
    const token = await createToken(call, { name: 'reader', project: 'app', environment: 'development', access: 'read' });
    const reader = api(srv, token.token);
    const answers = await Promise.all(Array.from({ length: 40 }, () => reader('GET', secretsPath('app', 'development', 'API_KEY'))));
    for (const a of answers) assert.equal(a.status, 200, a.text);
    const rows = await srv.db.selectFrom('audit_events').select(['request_id', 'actor_id', 'details']).where('action', '=', 'secret.read').execute();
    const ids = new Set(rows.map((r) => r.request_id));
    assert.equal(rows.length, 40);
    assert.equal(ids.size, 40, 'each read has its own record');
    for (const r of rows) {
      assert.equal(r.actor_id, token.info.id);
      assert.ok(!r.details.includes('value-for-group-commit'));
    }
  });

  it('reads of one org that arrive while its previous commit is being written go together in the next commit (PostgreSQL: not one transaction each)', async () => {
    const { storage } = srv.keynest;
    const groups: number[] = [];
    const audit = new AuditService(srv.db, storage.traits, storage.tenancy, { auditAppended: (mode, _s, records) => mode === 'group' && groups.push(records) });
    const orgId = (await srv.db.selectFrom('orgs').select('id').executeTakeFirstOrThrow()).id;
    const ctx = (i: number): AuditContext => ({ orgId, actor: { type: 'system', id: null }, ip: null, requestId: `lane-${i}`, now: Date.now() });
    const pending = [audit.recordAlone(ctx(0), { action: 'test.lane' })];
    // The others arrive one event-loop turn apart, as requests whose queries end at different times do.
    for (let i = 1; i <= 20; i++) {
      await new Promise((r) => setImmediate(r));
      pending.push(audit.recordAlone(ctx(i), { action: 'test.lane' }));
    }
    await Promise.all(pending);
    assert.equal(groups.reduce((a, b) => a + b, 0), 21, 'every record committed, each once');
    const rows = await srv.db.selectFrom('audit_events').select(['request_id', 'seq']).where('action', '=', 'test.lane').orderBy('seq').execute();
    assert.deepEqual(rows.map((r) => r.request_id), Array.from({ length: 21 }, (_, i) => `lane-${i}`), 'in the order they arrived, one chain');
    // SQLite writes a commit without yielding, so there a commit holds the records of about two
    // turns; on PostgreSQL a commit takes a round trip (or four, the first time: the head is not
    // known yet), and what arrives meanwhile waits for the next one. How many go together depends on
    // the machine's speed; what must hold is that the records share commits, not one each.
    if (srv.database === 'postgres') assert.ok(groups.length <= 10, `${groups.length} commits for 21 records: ${groups.join(',')}`);
    const verify = await call('GET', '/api/v1/audit/verify');
    assert.equal(verify.status, 200, verify.text);
    assert.equal(verify.body.ok, true, verify.text);
  });

  it('two instances and a write appending to one chain in turn: each instance links after the real head, not the one it last wrote', async () => {
    const { storage } = srv.keynest;
    const orgId = (await srv.db.selectFrom('orgs').select('id').executeTakeFirstOrThrow()).id;
    // PostgreSQL: each instance remembers the head its own last append left and sends the next one
    // linked to it in one statement, which must refuse it when another append came in between.
    const instances = [0, 1].map(() => new AuditService(srv.db, storage.traits, storage.tenancy));
    const ctx = (i: number): AuditContext => ({ orgId, actor: { type: 'system', id: null }, ip: null, requestId: `turn-${i}`, now: Date.now() });
    for (let i = 0; i < 12; i++) {
      await instances[i % 2]!.recordAlone(ctx(i), { action: 'test.turns' });
      if (i % 4 === 3) await putSecret(call, 'app', 'development', 'TURNS', `value-${i}`);
    }
    await Promise.all(Array.from({ length: 10 }, (_, i) => instances[i % 2]!.recordAlone(ctx(100 + i), { action: 'test.turns' })));
    const rows = await srv.db.selectFrom('audit_events').select(['request_id', 'seq']).where('action', '=', 'test.turns').orderBy('seq').execute();
    assert.equal(rows.length, 22, 'every record committed, each once');
    assert.deepEqual(rows.slice(0, 12).map((r) => r.request_id), Array.from({ length: 12 }, (_, i) => `turn-${i}`));
    const verify = await call('GET', '/api/v1/audit/verify');
    assert.equal(verify.status, 200, verify.text);
    assert.equal(verify.body.ok, true, verify.text);
  });
});
