import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { assertError, request, setupOwner, type ApiAnswer, type Credential, type SignedInSession } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const ALLOWLIST = '/api/v1/org/allowlist';
const entry = (cidr: string) => `${ALLOWLIST}/entries/${encodeURIComponent(cidr)}`;
const OFFICE = '203.0.113.10';
const CAFE = '198.51.100.5';

/**
 * The org IP allowlist against callers from elsewhere: sessions and API tokens from outside the
 * list, on every kind of route (the settings holding the list too), in IPv4, IPv6 and IPv4-mapped
 * form; and the admin who would lock themselves out. Client addresses come from X-Forwarded-For,
 * believed from the loopback proxy only (KEYNEST_TRUST_PROXY).
 */
describe('IP allowlist: enforcement and the lockout warning', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: SignedInSession;
  let readToken: string;
  /** A request as `cred`, from `ip` (null: no X-Forwarded-For, so the loopback address). */
  const from = (cred: Credential, ip: string | null) => (method: string, path: string, body?: unknown): Promise<ApiAnswer> =>
    request(srv, cred, method, path, body, { headers: ip === null ? {} : { 'x-forwarded-for': ip } });

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    owner = await setupOwner(srv);
    const call = from(owner, OFFICE);
    await createProject(call, 'app');
    await putSecret(call, 'app', 'development', 'KEY', 'allowlist-value');
    readToken = (await createToken(call, { project: 'app', environment: 'development', access: 'read' })).token;
  });
  after(() => srv.close());

  it('is off by default: empty, and every address is admitted', async () => {
    const res = await from(owner, OFFICE)('GET', ALLOWLIST);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { enabled: false, entries: [], yourIp: OFFICE, yourIpAllowed: false });
    assert.equal((await from(owner, CAFE)('GET', '/api/v1/me')).status, 200);
    assert.equal((await from(readToken, '2001:db8:ffff::1')('GET', secretsPath('app', 'development', 'KEY'))).status, 200);
  });

  it('refuses bad ranges with a stable code, and an empty list cannot be turned on', async () => {
    const call = from(owner, OFFICE);
    for (const bad of ['nope', '10.0.0.0/33', 'fe80::1%eth0', '1.2.3.4/24/1', '']) {
      const res = await call('POST', `${ALLOWLIST}/entries`, { cidr: bad });
      assert.ok(res.status === 400, `${bad}: ${res.text}`);
      assert.ok(['invalid_ip_range', 'validation_failed'].includes(res.body.error.code), res.text);
    }
    const hostBits = await call('POST', `${ALLOWLIST}/entries`, { cidr: '10.1.2.3/8' });
    assertError(hostBits, 400, 'invalid_ip_range');
    assert.deepEqual(hostBits.body.error.details, [{ path: '/cidr', rule: 'host_bits_set', suggestion: '10.0.0.0/8' }]);
    assertError(await call('PATCH', ALLOWLIST, { enabled: true }), 409, 'allowlist_empty');
    assertError(await call('PATCH', ALLOWLIST, { enabled: 'yes' }), 400, 'validation_failed');
  });

  it('stores entries in canonical form; the same range in another spelling is a duplicate', async () => {
    const call = from(owner, OFFICE);
    const added = await call('POST', `${ALLOWLIST}/entries`, { cidr: '203.0.113.0/24', label: 'office' });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.body.yourIpAllowed, true);
    assert.equal((await call('POST', `${ALLOWLIST}/entries`, { cidr: '2001:DB8:0:0::/48' })).status, 201);
    assertError(await call('POST', `${ALLOWLIST}/entries`, { cidr: '::ffff:203.0.113.0/120' }), 409, 'allowlist_entry_exists');
    const list = (await call('GET', ALLOWLIST)).body;
    assert.deepEqual(list.entries.map((e: { cidr: string; label: string | null }) => [e.cidr, e.label]), [['2001:db8::/48', null], ['203.0.113.0/24', 'office']]);
    assert.equal(list.enabled, false, 'adding does not turn it on');
  });

  it('warns the admin whose own address the list would shut out (409), unless they confirm', async () => {
    const atCafe = from(owner, CAFE);
    const warned = await atCafe('PATCH', ALLOWLIST, { enabled: true });
    assertError(warned, 409, 'allowlist_locks_you_out');
    assert.deepEqual(warned.body.error.details, { yourIp: CAFE });
    assert.equal((await atCafe('GET', ALLOWLIST)).body.enabled, false, 'nothing changed');
    const enabled = await from(owner, OFFICE)('PATCH', ALLOWLIST, { enabled: true });
    assert.equal(enabled.status, 200, enabled.text);
    assert.equal(enabled.body.enabled, true);
  });

  it('refuses sessions and API tokens from other addresses on every route, org settings included (403 ip_not_allowed)', async () => {
    for (const ip of [CAFE, '203.0.114.1', '2001:db9::1', null]) {
      const session = from(owner, ip);
      for (const [method, path, body] of [
        ['GET', '/api/v1/me'],
        ['GET', '/api/v1/org/settings'],
        ['PATCH', '/api/v1/org/settings', { require2fa: 'all' }],
        ['GET', ALLOWLIST],
        ['PATCH', ALLOWLIST, { enabled: false }],
        ['DELETE', entry('203.0.113.0/24')],
        ['GET', '/api/v1/projects'],
        ['GET', secretsPath('app', 'development', 'KEY')],
      ] as const) {
        const res = await session(method, path, body);
        assertError(res, 403, 'ip_not_allowed');
        assert.ok(!res.text.includes('allowlist-value'));
      }
      assertError(await from(readToken, ip)('GET', secretsPath('app', 'development', 'KEY')), 403, 'ip_not_allowed');
    }
    assert.equal((await from(owner, OFFICE)('GET', '/api/v1/org/settings')).body.require2fa, 'off', 'the refused PATCH changed nothing');
    assert.equal((await from(owner, OFFICE)('GET', ALLOWLIST)).body.enabled, true, 'nor did the refused PATCH of the list');
  });

  it('admits listed addresses: IPv4, IPv6, and IPv4-mapped IPv6 against an IPv4 range', async () => {
    for (const ip of [OFFICE, '203.0.113.255', '::ffff:203.0.113.77', '2001:db8::1', '2001:db8:0:ffff::1']) {
      assert.equal((await from(owner, ip)('GET', '/api/v1/me')).status, 200, ip);
      assert.equal((await from(readToken, ip)('GET', secretsPath('app', 'development', 'KEY'))).body.value, 'allowlist-value', ip);
    }
    assertError(await from(owner, '::ffff:203.0.114.1')('GET', '/api/v1/me'), 403, 'ip_not_allowed');
  });

  it('removing an entry: 404 when absent, 409 when it is the last, 409 when it shuts you out, then applies at once with confirmLockout', async () => {
    const call = from(owner, OFFICE);
    assertError(await call('DELETE', entry('192.0.2.0/24')), 404, 'allowlist_entry_not_found');
    assertError(await call('DELETE', entry('bad')), 400, 'invalid_ip_range');
    assert.equal((await call('DELETE', entry('2001:db8::/48'))).status, 200);
    assertError(await call('DELETE', entry('203.0.113.0/24')), 409, 'allowlist_empty');
    assert.equal((await call('POST', `${ALLOWLIST}/entries`, { cidr: '198.51.100.0/24', label: 'cafe' })).status, 201);
    assertError(await call('DELETE', entry('203.0.113.0/24')), 409, 'allowlist_locks_you_out');
    const removed = await call('DELETE', `${entry('203.0.113.0/24')}?confirmLockout=true`);
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.yourIpAllowed, false);
    assertError(await call('GET', '/api/v1/me'), 403, 'ip_not_allowed');
    assert.equal((await from(owner, CAFE)('GET', '/api/v1/me')).status, 200);
  });

  it('changing the list needs a recent sign-in (step-up); reading it does not', async () => {
    const atCafe = from(owner, CAFE);
    clock.advance(11 * 60 * 1000);
    assert.equal((await atCafe('GET', ALLOWLIST)).status, 200);
    assertError(await atCafe('POST', `${ALLOWLIST}/entries`, { cidr: '192.0.2.1' }), 401, 'reauth_required');
    assertError(await atCafe('PATCH', ALLOWLIST, { enabled: false }), 401, 'reauth_required');
    assertError(await atCafe('DELETE', entry('198.51.100.0/24')), 401, 'reauth_required');
    assertError(await from(readToken, CAFE)('GET', ALLOWLIST), 403, 'forbidden');
  });

  it('audits every change with the list before and after, and refusals, without secrets', async () => {
    const events = (await from(owner, CAFE)('GET', '/api/v1/audit?limit=500')).body.events as { action: string; outcome: string; ip: string; details: Record<string, unknown> }[];
    const actions = events.map((e) => e.action);
    for (const a of ['org.allowlist.entry_added', 'org.allowlist.enabled', 'org.allowlist.entry_removed', 'org.allowlist.refused']) assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
    const enabled = events.find((e) => e.action === 'org.allowlist.enabled')!;
    assert.deepEqual(enabled.details, { confirmedLockout: false, enabledBefore: false, enabledAfter: true, entriesBefore: ['2001:db8::/48', '203.0.113.0/24'], entriesAfter: ['2001:db8::/48', '203.0.113.0/24'] });
    const confirmed = events.find((e) => e.action === 'org.allowlist.entry_removed' && e.details.confirmedLockout === true)!;
    assert.deepEqual(confirmed.details.entriesAfter, ['198.51.100.0/24']);
    const refused = events.filter((e) => e.action === 'org.allowlist.refused');
    assert.ok(refused.every((e) => e.outcome === 'failure'));
    assert.ok(refused.some((e) => e.ip === '2001:db9::1'), 'the refused address is recorded');
    assert.equal(events.filter((e) => e.action.startsWith('org.allowlist.') && e.outcome === 'success').length, 6, 'refused changes are not recorded as changes');
  });

  it('turning it off admits everyone again', async () => {
    const atCafe = from(owner, CAFE);
    clock.advance(60_000);
    // A fresh sign-in for the step-up.
    const reauth = await atCafe('POST', '/api/v1/auth/reauth', { password: 'Vault-Tiger-Marble-2041' });
    assert.equal(reauth.status, 204, reauth.text);
    assert.equal((await atCafe('PATCH', ALLOWLIST, { enabled: false })).body.enabled, false);
    assert.equal((await from(owner, '192.0.2.200')('GET', '/api/v1/me')).status, 200);
    assert.equal((await from(readToken, null)('GET', secretsPath('app', 'development', 'KEY'))).status, 200);
  });
});
