import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { rfc5424 } from './syslog.js';
import type { SinkRecord } from './transport.js';
import { webhookSignature } from './webhook.js';

const RECORD: SinkRecord = {
  id: 42,
  org_id: 'org_1',
  at: Date.UTC(2030, 0, 2, 3, 4, 5, 678),
  action: 'secret.read',
  outcome: 'success',
  actor_type: 'user',
  actor_id: 'usr_1',
  target_type: 'secret',
  target_id: 'sec_1',
  target_name: 'DB_PASSWORD',
  ip: '203.0.113.7',
  request_id: 'req-1',
  details: '{"version":3}',
  actor_name: 'owner@example.com',
  user_agent: 'keynest-cli/0.1',
  project: 'app',
  environment: 'production',
  chain: 'org_1',
  seq: 7,
  prev_hash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
};

describe('sink formats', () => {
  it('webhook signature: t=<seconds>,v1=HMAC-SHA256(secret, t "." body) in hex', () => {
    const body = '{"sink":"snk_1","records":[]}';
    const expected = createHmac('sha256', 'kn_whs_key').update(`1893553445.${body}`).digest('hex');
    assert.equal(webhookSignature('kn_whs_key', 1893553445, body), `t=1893553445,v1=${expected}`);
    assert.notEqual(webhookSignature('kn_whs_key', 1893553446, body), webhookSignature('kn_whs_key', 1893553445, body), 'the time is signed');
  });

  it('syslog: an RFC 5424 message with PRI, version, time, host, app, pid, MSGID, structured data and the record as JSON', () => {
    const msg = rfc5424(RECORD, { hostname: 'kn-1', procId: '123' });
    const [head, json] = msg.split('\uFEFF');
    assert.equal(head, `<86>1 2030-01-02T03:04:05.678Z kn-1 keynest 123 secret.read [keynest@32473 id="42" chain="org_1" seq="7" hash="${'b'.repeat(64)}" org="org_1" actor="usr_1" outcome="success"] `);
    assert.deepEqual(JSON.parse(json!), RECORD);
    assert.match(rfc5424({ ...RECORD, outcome: 'failure' }, { hostname: 'kn-1', procId: '1' }), /^<85>1 /, 'a failure is a notice');
  });

  it('syslog: header fields are printable ASCII (NILVALUE when empty), parameter values escaped, instance records without an org', () => {
    const msg = rfc5424({ ...RECORD, org_id: null, chain: '', actor_id: null, actor_type: 'anonymous', action: 'x'.repeat(40) }, { hostname: 'host with spaces é', procId: '' });
    assert.match(msg, /^<86>1 \S+ host_with_spaces__ keynest - x{32} \[keynest@32473 id="42" chain="" seq="7" hash="b+" actor="anonymous" outcome="success"\] /);
    const tricky = rfc5424({ ...RECORD, actor_id: 'a"b\\c]d' }, { hostname: 'h', procId: '1' });
    assert.ok(tricky.includes('actor="a\\"b\\\\c\\]d"'), tricky);
  });
});
