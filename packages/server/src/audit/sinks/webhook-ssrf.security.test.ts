import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../../testing.js';
import { startServer } from '../../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../../test-support/api.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../test-support/receivers.js';
import { checkOrgWebhookUrl, isPublicAddress, type Resolver } from './destination.js';
import { WebhookTransport } from './webhook.js';

/**
 * The threat: an org admin (or a stolen admin session) aims an org webhook at what only the server
 * can reach — the cloud metadata service, a database's admin port, localhost — and the server
 * sends requests there (server-side request forgery), directly, through a DNS name, or through a
 * DNS answer that changes after the URL was checked (rebinding).
 */
describe('org webhooks cannot reach non-public addresses (SSRF)', () => {
  let srv: TestServer;
  let owner: Api;

  before(async () => {
    // Plain http is allowed here, so that only the address rule is what refuses.
    srv = await startServer({ env: { KEYNEST_WEBHOOK_ALLOW_HTTP: 'true' } });
    owner = api(srv, await setupOwner(srv));
  });
  after(() => srv.close());

  it('refuses loopback, private, link-local (metadata), unspecified and IPv4-in-IPv6 destinations with 400 webhook_url_not_allowed', async () => {
    for (const url of [
      'http://127.0.0.1:8200/hook',
      'http://localhost/hook',
      'http://127.1/hook',
      'http://2130706433/hook',
      'http://0x7f000001/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.5/hook',
      'http://172.16.1.1/hook',
      'http://192.168.1.10/hook',
      'http://100.100.100.200/hook',
      'http://0.0.0.0/hook',
      'http://[fd00:ec2::254]/hook',
      'http://[fe80::1]/hook',
    ]) {
      assertError(await owner('POST', '/api/v1/audit/sinks', { url }), 400, 'webhook_url_not_allowed');
    }
    assert.equal((await srv.db.selectFrom('audit_sinks').select('id').execute()).length, 0, 'nothing was stored');
    assert.equal(await srv.db.selectFrom('audit_events').select('id').where('action', '=', 'audit.sink.create').executeTakeFirst(), undefined);
  });

  it('refuses plain http unless the operator allows it (400 invalid_webhook_url)', async () => {
    const strict = await startServer();
    try {
      const call = api(strict, await setupOwner(strict));
      const res = await call('POST', '/api/v1/audit/sinks', { url: 'http://93.184.216.34/hook' });
      assertError(res, 400, 'invalid_webhook_url');
      assert.match(res.body.error.message, /https/);
    } finally {
      await strict.close();
    }
  });

  it('checks every address a name resolves to when the sink is created (one private answer is enough to refuse)', async () => {
    const dns = (answers: string[]): Resolver => (_host, _opts, cb) => cb(null, answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as LookupAddress));
    const policy = { allowHttp: false, allowPrivate: false };
    assert.equal((await checkOrgWebhookUrl('https://receiver.example/hook', policy, dns(['93.184.216.34']))).hostname, 'receiver.example');
    await assert.rejects(checkOrgWebhookUrl('https://receiver.example/hook', policy, dns(['93.184.216.34', '10.1.2.3'])), { code: 'webhook_url_not_allowed' });
    await assert.rejects(checkOrgWebhookUrl('https://receiver.example/hook', policy, dns(['2606:4700::1', '::1'])), { code: 'webhook_url_not_allowed' });
    await assert.rejects(checkOrgWebhookUrl('https://nowhere.example/hook', policy, (_h, _o, cb) => cb(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), [])), { code: 'invalid_webhook_url' });
    assert.ok((await checkOrgWebhookUrl('https://receiver.example/hook', { ...policy, allowPrivate: true }, dns(['10.1.2.3']))) instanceof URL);
  });

  it('checks again at every connection, on the addresses it connects to: a name that resolves to loopback later (rebinding) gets nothing', async () => {
    const receiver: WebhookReceiver = await startWebhookReceiver();
    const rebound: Resolver = (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const url = new URL(`http://rebind.example:${receiver.port}/hook`);
    const options = { sinkId: 'snk_test', url, secret: 'kn_whs_test', timeoutMs: 2000, clock: Date.now };
    const rules = { allowHttp: true, allowPrivate: false };
    const guarded = new WebhookTransport({ ...options, guard: { ...rules, resolve: rebound } });
    const literal = new WebhookTransport({ ...options, url: new URL(`http://127.0.0.1:${receiver.port}/hook`), guard: rules });
    const trusted = new WebhookTransport({ ...options, guard: null, url: new URL(`http://127.0.0.1:${receiver.port}/hook`) });
    try {
      await assert.rejects(guarded.deliver([], new AbortController().signal), /destination address not allowed/);
      await assert.rejects(literal.deliver([], new AbortController().signal), /destination address not allowed/);
      assert.equal(receiver.deliveries.length, 0, 'no request reached the loopback receiver');
      await trusted.deliver([], new AbortController().signal);
      assert.equal(receiver.deliveries.length, 1, "the operator's own sink may use any address");
      const httpRefused = new WebhookTransport({ ...options, url: new URL(`http://127.0.0.1:${receiver.port}/hook`), guard: { allowHttp: false, allowPrivate: true } });
      await assert.rejects(httpRefused.deliver([], new AbortController().signal), /plain http is not allowed/, 'an http sink stops when the operator forbids http again');
      await httpRefused.close();
    } finally {
      await Promise.all([guarded.close(), literal.close(), trusted.close()]);
      await receiver.close();
    }
  });

  it('never follows a redirect (a 3xx is a failed delivery)', async () => {
    const receiver = await startWebhookReceiver(() => 307);
    const transport = new WebhookTransport({ sinkId: 'snk_test', url: new URL(receiver.url), secret: 'kn_whs_test', timeoutMs: 2000, clock: Date.now, guard: null });
    try {
      await assert.rejects(transport.deliver([], new AbortController().signal), /HTTP 307 \(redirects are not followed\)/);
      assert.equal(receiver.deliveries.length, 1);
    } finally {
      await transport.close();
      await receiver.close();
    }
  });

  it('classifies addresses: the special-purpose ranges are not public, ordinary ones are', () => {
    for (const ip of ['127.0.0.1', '10.255.255.255', '172.31.0.1', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', '::ffff:10.0.0.1', 'fc00::1', 'fe80::1', 'ff02::1', '64:ff9b::a00:1', '2001:db8::1', 'not an address', '']) {
      assert.equal(isPublicAddress(ip), false, ip);
    }
    for (const ip of ['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '[2a00:1450::1]']) assert.equal(isPublicAddress(ip), true, ip);
  });
});
