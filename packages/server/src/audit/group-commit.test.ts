import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

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
});
