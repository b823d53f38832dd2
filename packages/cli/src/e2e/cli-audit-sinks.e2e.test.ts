import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startWebhookReceiver } from '@keynest/server';
import { startHarness } from './harness.test-util.js';

/** The test server may send to a loopback receiver over plain http. */
const SERVER_ENV = { KEYNEST_WEBHOOK_ALLOW_PRIVATE: 'true', KEYNEST_WEBHOOK_ALLOW_HTTP: 'true', KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '10' };

test('keynest audit sinks: add prints the secret once, the receiver gets signed records, list shows the lag, test and remove', async (t) => {
  const receiver = await startWebhookReceiver();
  t.after(() => receiver.close());
  const h = await startHarness(t, { env: SERVER_ENV });
  await h.setupProject();

  const added = await h.ok(['audit', 'sinks', 'add', '--url', receiver.url, '--label', 'SIEM']);
  const m = /^Added audit sink (snk_\S+): the organization's audit records now go to (\S+)\.\n.*not be shown again\.\n(kn_whs_[A-Za-z0-9_-]{43})\n$/.exec(added);
  assert.ok(m, added);
  const [, id, url, secret] = m;
  assert.equal(url, receiver.url);

  await h.ok(['secrets', 'set', 'API_KEY=sink-e2e-value']);
  await h.server.keynest.auditSinkDispatcher.drain();
  const records = receiver.accepted();
  assert.deepEqual(records.slice(0, 2).map((r) => r.action), ['audit.sink.create', 'secret.write']);
  for (const d of receiver.deliveries) {
    const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(d.headers['x-keynest-signature']))!;
    assert.equal(createHmac('sha256', secret!).update(`${sig[1]}.${d.body}`).digest('hex'), sig[2], 'signed with the printed secret');
    assert.ok(!d.body.includes('sink-e2e-value'));
  }

  const listed = await h.ok(['audit', 'sinks', 'list']);
  const [header, row, ...rest] = listed.trimEnd().split('\n');
  assert.match(header!, /^ID\s+URL\s+LABEL\s+DELIVERED UP TO\s+BEHIND\s+FAILURES\s+LAST ERROR$/);
  assert.match(row!, new RegExp(`^${id}\\s+${url!.replace(/[.?]/g, '\\$&')}\\s+SIEM\\s+\\d+ \\(\\S+ \\S+\\)\\s+-\\s+0\\s+-$`));
  assert.deepEqual(rest, []);
  assert.ok(!listed.includes(secret!), 'the secret is never listed');
  const json = JSON.parse(await h.ok(['audit', 'sinks', 'list', '--json']));
  assert.equal(json.sinks[0].status.recordsBehind, 0);
  assert.ok(!JSON.stringify(json).includes(secret!));

  assert.match(await h.ok(['audit', 'sinks', 'test', id!]), /^Delivered: the receiver answered HTTP 200 in \d+ ms\.\n$/);
  receiver.respond = () => 503;
  const refused = await h.cli(['audit', 'sinks', 'test', id!]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, 'Not delivered: HTTP 503.\n');
  receiver.respond = () => 200;

  assert.equal(await h.ok(['audit', 'sinks', 'remove', id!]), `Removed audit sink ${id}.\n`);
  assert.equal(await h.ok(['audit', 'sinks', 'list']), 'No audit sinks.\n');
  await h.fails(['audit', 'sinks', 'remove', id!], 1, 'sink_not_found');
  const search = await h.ok(['audit', 'search', '--action', 'audit.sink']);
  assert.match(search, /audit\.sink\.delete/);
  assert.match(search, /audit\.sink\.test/);
  assert.match(search, /audit\.sink\.create/);
  assert.ok(!search.includes(secret!));
});

test('keynest audit sinks: a URL the server refuses is one error line with its code; usage errors exit 2', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['audit', 'sinks', 'add', '--url', 'https://127.0.0.1/hook'], 1, 'webhook_url_not_allowed');
  await h.fails(['audit', 'sinks', 'add', '--url', 'http://93.184.216.34/hook'], 1, 'invalid_webhook_url');
  await h.fails(['audit', 'sinks', 'add'], 2, 'usage');
  await h.fails(['audit', 'sinks', 'remove'], 2, 'usage');
  await h.fails(['audit', 'sinks', 'frobnicate'], 2, 'usage');
  assert.equal(await h.ok(['audit', 'sinks', 'list']), 'No audit sinks.\n');
});
