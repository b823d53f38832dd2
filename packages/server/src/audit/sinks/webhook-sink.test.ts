import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, it } from 'node:test';
import { startServer } from '../../test-support/server.js';
import { marker, putSecret } from '../../test-support/fixtures.js';
import { auditedActivity, eventually, startWebhookReceiver, storedAuditIds, type WebhookDelivery, type WebhookReceiver } from '../../test-support/receivers.js';
import { INSTANCE_SINK_IDS } from './index.js';

const SECRET = 'instance-webhook-secret-0123456789abcdef';

/** Sink settings of a test server: fast retries, the receiver on loopback over plain http. */
function sinkEnv(receiver: WebhookReceiver, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KEYNEST_AUDIT_SINK_WEBHOOK_URL: receiver.url,
    KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: SECRET,
    KEYNEST_WEBHOOK_ALLOW_HTTP: 'true',
    KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '10',
    KEYNEST_AUDIT_SINK_RETRY_MAX_MS: '50',
    ...extra,
  };
}

/** What a receiver does, written from the documentation (docs/audit.md), with node:crypto only. */
function verify(d: Pick<WebhookDelivery, 'headers' | 'body'>, secret: string): boolean {
  const header = String(d.headers['x-keynest-signature'] ?? '');
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${d.body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

describe('audit sink: the instance webhook', () => {
  it('receives every record in order, each delivery signed so a receiver can verify it (and a tampered body fails); never a value', async (t) => {
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    const srv = await startServer({ env: sinkEnv(receiver) });
    try {
      const { value } = await auditedActivity(srv, 'WEBHOOKVALUE');
      await srv.keynest.auditSinkDispatcher.drain();
      const got = receiver.accepted().map((r) => Number(r.id));
      assert.deepEqual(got, await storedAuditIds(srv), 'every record, once, in id order');
      assert.ok(got.length >= 5);
      for (const d of receiver.deliveries) {
        assert.equal(d.headers['content-type'], 'application/json');
        assert.equal(d.headers['x-keynest-sink'], INSTANCE_SINK_IDS.webhook);
        assert.ok(verify(d, SECRET), 'the signature verifies');
        assert.ok(!verify({ headers: d.headers, body: d.body.replace('"records"', '"records" ') }, SECRET), 'a changed body does not');
        assert.ok(!verify(d, `${SECRET}x`), 'nor another key');
        assert.ok(!d.body.includes(value), 'no secret value in a payload');
        assert.ok(!d.body.includes(SECRET));
      }
      const record = receiver.accepted().find((r) => r.action === 'secret.read')!;
      assert.equal(record.target_name, 'DB_PASSWORD', 'records carry key names');
      for (const field of ['id', 'chain', 'seq', 'prev_hash', 'hash', 'at', 'org_id']) assert.ok(field in record, `records carry ${field}`);
      const [status] = await srv.keynest.auditSinkDispatcher.statuses();
      assert.equal(status!.id, INSTANCE_SINK_IDS.webhook);
      assert.equal(status!.recordsBehind, 0);
      assert.equal(status!.secondsBehind, 0);
      assert.equal(status!.lastDeliveredId, got[got.length - 1]);
      assert.equal(status!.destination, receiver.url);
    } finally {
      await srv.close();
    }
  });

  it('a receiver that answers 500 three times, then 200, still gets everything exactly in order; nothing is lost', async (t) => {
    const receiver = await startWebhookReceiver((n) => (n < 3 ? 500 : 200));
    t.after(() => receiver.close());
    const srv = await startServer({ env: sinkEnv(receiver) });
    try {
      await auditedActivity(srv, 'RETRY');
      await srv.keynest.auditSinkDispatcher.drain();
      assert.deepEqual(receiver.deliveries.slice(0, 4).map((d) => d.status), [500, 500, 500, 200]);
      assert.deepEqual(receiver.accepted().map((r) => Number(r.id)), await storedAuditIds(srv));
      const [status] = await srv.keynest.auditSinkDispatcher.statuses();
      assert.equal(status!.consecutiveFailures, 0);
      assert.equal(status!.lastError, 'HTTP 500');
      assert.match(srv.logText(), /"reason":"HTTP 500".*"msg":"audit sink delivery failed"|"msg":"audit sink delivery failed".*"reason":"HTTP 500"/);
    } finally {
      await srv.close();
    }
  });

  it('a sink that is down (or hangs) never fails or slows a request; it reports its lag, and the records wait in the database', async (t) => {
    const receiver = await startWebhookReceiver(() => 'hang');
    t.after(() => receiver.close());
    const srv = await startServer({ env: sinkEnv(receiver, { KEYNEST_AUDIT_SINK_TIMEOUT_MS: '300', KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '1000', KEYNEST_AUDIT_SINK_RETRY_MAX_MS: '1000' }) });
    try {
      const { owner } = await auditedActivity(srv, 'DOWN');
      await eventually(() => receiver.deliveries.length > 0, 'the first delivery to hang');
      const started = Date.now();
      for (let i = 0; i < 5; i++) await putSecret(owner, 'app', 'development', `KEY_${i}`, marker('WHILEDOWN'));
      assert.ok(Date.now() - started < 5000, 'requests answer while the receiver hangs');
      let status = (await srv.keynest.auditSinkDispatcher.statuses())[0]!;
      assert.equal(status.lastDeliveredId, null);
      assert.equal(status.recordsBehind, (await storedAuditIds(srv)).length);
      // Polled between timer turns: SQLite's answers alone never let the delivery's deadline fire.
      for (const until = Date.now() + 5000; status.consecutiveFailures === 0 && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 20));
        status = (await srv.keynest.auditSinkDispatcher.statuses())[0]!;
      }
      assert.equal(status.lastError, 'timed out after 300 ms');
      assert.ok(status.consecutiveFailures >= 1);
    } finally {
      await srv.close();
    }
  });

  it('stopped while its receiver is down, the server resumes from the durable cursor after a restart: every record arrives, in order', async (t) => {
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    const env = sinkEnv(receiver);
    const first = await startServer({ env, keepData: true });
    let cursor = 0;
    try {
      const { owner } = await auditedActivity(first, 'BEFORE');
      await first.keynest.auditSinkDispatcher.drain();
      receiver.respond = () => 503;
      for (let i = 0; i < 3; i++) await putSecret(owner, 'app', 'development', `DURING_${i}`, marker('DURING'));
      await eventually(() => receiver.deliveries.some((d) => d.status === 503), 'a refused delivery');
      const row = await first.db.selectFrom('audit_sink_cursors').select('last_id').where('sink_id', '=', INSTANCE_SINK_IDS.webhook).executeTakeFirstOrThrow();
      cursor = Number(row.last_id);
      assert.ok(cursor > 0);
    } finally {
      await first.close();
    }
    const deliveredBefore = receiver.deliveries.length;
    receiver.respond = () => 200;
    const second = await startServer({ env, dataDir: first.dataDir, ...(first.schema ? { schema: first.schema } : {}), keepData: false });
    try {
      await second.keynest.auditSinkDispatcher.drain();
      const after = receiver.deliveries.slice(deliveredBefore).filter((d) => d.status === 200).flatMap((d) => (JSON.parse(d.body) as { records: { id: number }[] }).records.map((r) => r.id));
      assert.ok(after.length > 0);
      assert.ok(after[0]! > cursor, `resumed after the cursor (${cursor}), not from the start: ${after[0]}`);
      const seen = [...new Set(receiver.accepted().map((r) => Number(r.id)))];
      assert.deepEqual(seen, await storedAuditIds(second), 'every record, in order');
    } finally {
      await second.close();
    }
  });
});
