import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../../testing.js';
import { startServer } from '../../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../../test-support/api.js';
import { allCells } from '../../test-support/db.js';
import { createProject, marker, putSecret } from '../../test-support/fixtures.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../test-support/receivers.js';

/** Loopback receivers over plain http: the test server allows both (KEYNEST_WEBHOOK_ALLOW_*). */
const ENV = { KEYNEST_WEBHOOK_ALLOW_PRIVATE: 'true', KEYNEST_WEBHOOK_ALLOW_HTTP: 'true', KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '10', KEYNEST_AUDIT_SINK_RETRY_MAX_MS: '50' };

function signedWith(secret: string, headers: Record<string, unknown>, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers['x-keynest-signature']));
  return m !== null && createHmac('sha256', secret).update(`${m[1]}.${body}`).digest('hex') === m[2];
}

describe('org audit sinks (/api/v1/audit/sinks)', () => {
  let srv: TestServer;
  let owner: Api;
  let receiver: WebhookReceiver;
  let orgId: string;
  let shownSecret = '';

  before(async () => {
    receiver = await startWebhookReceiver();
    srv = await startServer({ env: ENV });
    owner = api(srv, await setupOwner(srv));
    orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    await createProject(owner, 'app');
  });
  after(async () => {
    await srv.close();
    await receiver.close();
  });

  it("shows the signing secret once; then it is only sealed: not in GET, the database, the log or the audit trail; the sink gets the org's records from its own creation on, signed with it", async () => {
    const created = await owner('POST', '/api/v1/audit/sinks', { url: `${receiver.url}?token=receiver-side-token`, label: 'SIEM' });
    assert.equal(created.status, 201, created.text);
    const { sink, secret } = created.body;
    assert.match(secret, /^kn_whs_[A-Za-z0-9_-]{43}$/);
    shownSecret = secret;
    assert.match(sink.id, /^snk_/);
    assert.equal(sink.url, `${receiver.url}?token=receiver-side-token`);
    assert.equal(sink.label, 'SIEM');
    assert.deepEqual(Object.keys(sink.status).sort(), ['consecutiveFailures', 'lastDeliveredAt', 'lastDeliveredId', 'lastError', 'lastErrorAt', 'recordsBehind', 'secondsBehind']);

    const value = marker('ORGSINKVALUE');
    await putSecret(owner, 'app', 'development', 'STRIPE_KEY', value);
    await srv.keynest.auditSinkDispatcher.drain();
    const records = receiver.accepted();
    assert.equal(records[0]!.action, 'audit.sink.create', 'the sink starts with its own creation record');
    const chain = (await srv.db.selectFrom('audit_events').select(['id', 'action']).where('org_id', '=', orgId).where('id', '>=', Number(records[0]!.id)).orderBy('id').execute()).map((r) => Number(r.id));
    assert.deepEqual(records.map((r) => Number(r.id)), chain);
    for (const d of receiver.deliveries) {
      assert.ok(signedWith(secret, d.headers, d.body), 'signed with the secret shown at creation');
      assert.equal(d.headers['x-keynest-sink'], sink.id);
      assert.ok(!d.body.includes(value) && !d.body.includes(secret));
    }
    const creation = records[0]!;
    assert.equal(creation.target_name, receiver.url, 'the audit record names the URL without its query');
    assert.ok(!JSON.stringify(creation).includes('receiver-side-token'));

    const listed = await owner('GET', '/api/v1/audit/sinks');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.sinks.length, 1);
    assert.equal(listed.body.sinks[0].status.recordsBehind, 0);
    assert.equal(listed.body.sinks[0].status.lastDeliveredId, Number(records[records.length - 1]!.id));
    assert.ok(!listed.text.includes(secret) && !listed.text.includes(secret.slice('kn_whs_'.length)));

    const body = secret.slice('kn_whs_'.length);
    for (const c of await allCells(srv)) {
      if (c.value === null || typeof c.value === 'number') continue;
      const text = Buffer.isBuffer(c.value) || c.value instanceof Uint8Array ? Buffer.from(c.value).toString('latin1') : String(c.value);
      assert.ok(!text.includes(body), `the secret is in ${c.table}.${c.column}`);
    }
    for (const f of ['keynest.db', 'keynest.db-wal']) {
      const file = path.join(srv.dataDir, f);
      if (existsSync(file)) assert.ok(!readFileSync(file).includes(Buffer.from(body)), `the secret is in ${f}`);
    }
    assert.ok(!srv.logText().includes(body), 'the secret is in the log');
    assert.ok(!srv.logText().includes('receiver-side-token'), "the URL's query is in the log");
  });

  it("a test delivery is signed, marked as a test, moves no cursor, and is recorded with the receiver's answer", async () => {
    const [sink] = (await owner('GET', '/api/v1/audit/sinks')).body.sinks;
    const before = receiver.deliveries.length;
    const ok = await owner('POST', `/api/v1/audit/sinks/${sink.id}/test`);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.delivered, true);
    assert.equal(ok.body.status, 200);
    assert.equal(ok.body.error, null);
    const test = receiver.deliveries[before]!;
    assert.deepEqual(JSON.parse(test.body), { sink: sink.id, test: true, records: [] });
    assert.ok(signedWith(shownSecret, test.headers, test.body), 'a test delivery is signed like any other');

    receiver.respond = () => 500;
    const refused = await owner('POST', `/api/v1/audit/sinks/${sink.id}/test`);
    receiver.respond = () => 200;
    assert.equal(refused.status, 200);
    assert.deepEqual({ delivered: refused.body.delivered, status: refused.body.status, error: refused.body.error }, { delivered: false, status: 500, error: 'HTTP 500' });

    const tests = await srv.db.selectFrom('audit_events').select(['id', 'outcome', 'details']).where('action', '=', 'audit.sink.test').orderBy('id').execute();
    assert.deepEqual(tests.map((t) => t.outcome), ['success', 'failure']);
    assert.deepEqual(JSON.parse(tests[1]!.details), { status: 500, error: 'HTTP 500' });
    // The tests moved no cursor: their own records then come in the ordinary stream, once each.
    await srv.keynest.auditSinkDispatcher.drain();
    const streamed = receiver.accepted().filter((r) => r.action === 'audit.sink.test').map((r) => Number(r.id));
    assert.deepEqual(streamed, tests.map((t) => Number(t.id)));
  });

  it('removing a sink is recorded and ends its deliveries; an unknown or removed id is 404 sink_not_found', async () => {
    const [sink] = (await owner('GET', '/api/v1/audit/sinks')).body.sinks;
    assert.equal((await owner('DELETE', `/api/v1/audit/sinks/${sink.id}`)).status, 204);
    await srv.keynest.auditSinkDispatcher.drain();
    const before = receiver.deliveries.length;
    await putSecret(owner, 'app', 'development', 'AFTER_REMOVAL', marker('GONE'));
    await srv.keynest.auditSinkDispatcher.drain();
    assert.equal(receiver.deliveries.length, before, 'nothing more is sent');
    assert.deepEqual((await owner('GET', '/api/v1/audit/sinks')).body.sinks, []);
    const removal = await srv.db.selectFrom('audit_events').select(['target_id', 'details']).where('action', '=', 'audit.sink.delete').executeTakeFirstOrThrow();
    assert.equal(removal.target_id, sink.id);
    assertError(await owner('DELETE', `/api/v1/audit/sinks/${sink.id}`), 404, 'sink_not_found');
    assertError(await owner('POST', `/api/v1/audit/sinks/${sink.id}/test`), 404, 'sink_not_found');
    assertError(await owner('DELETE', '/api/v1/audit/sinks/snk_unknown'), 404, 'sink_not_found');
    assert.equal(await srv.db.selectFrom('audit_sink_cursors').select('sink_id').where('sink_id', '=', sink.id).executeTakeFirst(), undefined);
  });

  it('bad input is a 400 with a stable code, never a 500; an org has at most 10 sinks', async () => {
    assertError(await owner('POST', '/api/v1/audit/sinks', {}), 400, 'validation_failed');
    assertError(await owner('POST', '/api/v1/audit/sinks', { url: receiver.url, secret: 'mine' }), 400, 'validation_failed');
    assertError(await owner('POST', '/api/v1/audit/sinks', { url: 'not a url' }), 400, 'invalid_webhook_url');
    assertError(await owner('POST', '/api/v1/audit/sinks', { url: 'ftp://example.com/x' }), 400, 'invalid_webhook_url');
    assertError(await owner('POST', '/api/v1/audit/sinks', { url: 'https://user:pass@example.com/x' }), 400, 'invalid_webhook_url');
    assertError(await owner('POST', '/api/v1/audit/sinks', { url: `https://example.com/${'x'.repeat(2100)}` }), 400, 'validation_failed');
    for (let i = 0; i < 10; i++) assert.equal((await owner('POST', '/api/v1/audit/sinks', { url: `${receiver.url}/${i}` })).status, 201);
    assertError(await owner('POST', '/api/v1/audit/sinks', { url: receiver.url }), 400, 'validation_failed');
  });
});
