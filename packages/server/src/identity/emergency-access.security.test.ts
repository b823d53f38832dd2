import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { assertError, OWNER, request, setupOwner, SignedInSession, type ApiAnswer, type Credential } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { mailedToken, nthMail, startSmtpServer, type ReceivedMail } from '../test-support/smtp.js';

const OFFICE = '203.0.113.10';
const HOTEL = '198.51.100.7';
const ADMIN = { email: 'admin@example.com', password: 'Copper-Lantern-Fjord-7731' };
const REQUEST = '/api/v1/auth/emergency-access';
const CONFIRM = '/api/v1/auth/emergency-access/confirm';

const codeIn = (mail: ReceivedMail): string => {
  const m = /kn_eac_[A-Za-z0-9_-]{43}/.exec(mail.body);
  if (!m) throw new Error('no emergency code in the mail');
  return m[0];
};

/**
 * An owner shut out by their org's allowlist gets back in with a mailed code, from the address they
 * confirm it on, for the allowance period only; nobody else gains anything, and nothing tells a
 * stranger whether an email is an owner's.
 */
describe('emergency access past the IP allowlist', () => {
  const clock = manualClock();
  let srv: TestServer;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let owner: SignedInSession;
  let admin: SignedInSession;
  let ownerToken: string;
  let code: string;
  const from = (cred: Credential, ip: string) => (method: string, path: string, body?: unknown): Promise<ApiAnswer> =>
    request(srv, cred, method, path, body, { headers: { 'x-forwarded-for': ip } });

  before(async () => {
    smtp = await startSmtpServer();
    srv = await startServer({
      clock,
      env: { KEYNEST_TRUST_PROXY: '127.0.0.1', KEYNEST_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, KEYNEST_SESSION_IDLE_S: '86400', KEYNEST_EMERGENCY_ACCESS_S: '3600' },
    });
    owner = await setupOwner(srv);
    const atOffice = from(owner, OFFICE);
    assert.equal((await atOffice('POST', '/api/v1/org/invitations', { email: ADMIN.email, role: 'admin' })).status, 201);
    const accepted = await request(srv, null, 'POST', '/api/v1/auth/invitations/accept', { token: mailedToken(await nthMail(smtp.received, 1), 'inv'), password: ADMIN.password });
    assert.equal(accepted.status, 201, accepted.text);
    admin = SignedInSession.of(srv, accepted);
    await createProject(atOffice, 'app');
    ownerToken = (await createToken(atOffice, { project: 'app', environment: 'development', access: 'read' })).token;
    assert.equal((await atOffice('POST', '/api/v1/org/allowlist/entries', { cidr: '203.0.113.0/24' })).status, 201);
    assert.equal((await atOffice('PATCH', '/api/v1/org/allowlist', { enabled: true })).status, 200);
  });
  after(async () => {
    await srv.close();
    await smtp.close();
  });

  it('asking answers the same for an owner, an admin and an unknown email; only the owner gets a code', async () => {
    assertError(await from(owner, HOTEL)('GET', '/api/v1/me'), 403, 'ip_not_allowed');
    const answers = [];
    for (const email of [OWNER.email, ADMIN.email, 'nobody@example.com']) {
      const res = await request(srv, null, 'POST', REQUEST, { email }, { headers: { 'x-forwarded-for': HOTEL } });
      answers.push({ status: res.status, body: res.body });
    }
    assert.deepEqual(answers, Array(3).fill({ status: 202, body: { status: 'sent_if_exists' } }));
    await srv.keynest.settled();
    const mail = await nthMail(smtp.received, 2);
    assert.deepEqual(mail.rcptTo, [OWNER.email]);
    assert.match(mail.body, /IP address: 198\.51\.100\.7/, 'the mail says where the request came from');
    assert.match(mail.body, /"Acme"/);
    code = codeIn(mail);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(smtp.received.length, 2, 'no mail for the admin or the unknown email');
  });

  it('a wrong code, another email with the right code, a malformed code: one answer', async () => {
    const confirm = (body: unknown) => request(srv, null, 'POST', CONFIRM, body, { headers: { 'x-forwarded-for': HOTEL } });
    const wrong = await confirm({ email: OWNER.email, code: `kn_eac_${'A'.repeat(43)}` });
    assertError(wrong, 401, 'invalid_emergency_code');
    for (const body of [{ email: ADMIN.email, code }, { email: 'nobody@example.com', code }, { email: OWNER.email, code: 'guess' }]) {
      const res = await confirm(body);
      assertError(res, 401, 'invalid_emergency_code');
      assert.equal(res.body.error.message, wrong.body.error.message);
    }
    assertError(await from(owner, HOTEL)('GET', '/api/v1/me'), 403, 'ip_not_allowed');
  });

  it('the right code lets that owner in from that address, for the allowance period, once', async () => {
    const granted = await request(srv, null, 'POST', CONFIRM, { email: OWNER.email, code }, { headers: { 'x-forwarded-for': HOTEL } });
    assert.equal(granted.status, 200, granted.text);
    assert.equal(granted.body.ip, HOTEL);
    assert.equal(granted.body.expiresAt, new Date(clock() + 3600_000).toISOString());
    assert.deepEqual(granted.body.orgs.map((o: { name: string }) => o.name), ['Acme']);
    const notice = await nthMail(smtp.received, 3);
    assert.deepEqual(notice.rcptTo, [OWNER.email]);
    assert.match(notice.headers.get('subject') ?? '', /emergency access/i);
    assert.ok(!notice.body.includes(code), 'the notice does not repeat the code');
    assertError(await request(srv, null, 'POST', CONFIRM, { email: OWNER.email, code }, { headers: { 'x-forwarded-for': HOTEL } }), 401, 'invalid_emergency_code');

    assert.equal((await from(owner, HOTEL)('GET', '/api/v1/me')).status, 200);
    assert.equal((await from(owner, HOTEL)('GET', '/api/v1/org/allowlist')).status, 200, 'the owner can now fix the list');
    assertError(await from(owner, '198.51.100.8')('GET', '/api/v1/me'), 403, 'ip_not_allowed');
    assertError(await from(admin, HOTEL)('GET', '/api/v1/me'), 403, 'ip_not_allowed');
    assertError(await from(ownerToken, HOTEL)('GET', '/api/v1/projects/app'), 403, 'ip_not_allowed');

    clock.advance(3600_000 - 1000);
    assert.equal((await from(owner, HOTEL)('GET', '/api/v1/me')).status, 200, 'still inside the hour');
    clock.advance(1000);
    assertError(await from(owner, HOTEL)('GET', '/api/v1/me'), 403, 'ip_not_allowed');
  });

  it('an admin cannot get emergency access, and a code expires after 15 minutes', async () => {
    await request(srv, null, 'POST', REQUEST, { email: OWNER.email }, { headers: { 'x-forwarded-for': '192.0.2.50' } });
    await srv.keynest.settled();
    const late = codeIn(await nthMail(smtp.received, 4));
    clock.advance(15 * 60_000);
    assertError(await request(srv, null, 'POST', CONFIRM, { email: OWNER.email, code: late }, { headers: { 'x-forwarded-for': '192.0.2.50' } }), 401, 'invalid_emergency_code');
    assertError(await from(admin, '192.0.2.50')('GET', '/api/v1/me'), 403, 'ip_not_allowed');
  });

  it('guessing codes is rate-limited (429) per email', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await request(srv, null, 'POST', CONFIRM, { email: ADMIN.email, code: `kn_eac_${String(i).repeat(43)}` }, { headers: { 'x-forwarded-for': `192.0.2.${100 + i}` } });
      statuses.push(res.status);
    }
    // The admin's email already took one guess above: four more, then refused whatever the address.
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
  });

  it('request, grant, use and refusals are audited, and no code is in the audit log or the server log', async () => {
    await srv.keynest.settled();
    const events = (await from(owner, OFFICE)('GET', '/api/v1/audit?limit=500')).body.events as { action: string; outcome: string; ip: string; actor: { type: string } }[];
    const of = (action: string) => events.filter((e) => e.action === action);
    assert.equal(of('org.allowlist.emergency_access_requested').length, 2, 'the owner asked twice; admin and unknown leave no trace in the org');
    assert.equal(of('org.allowlist.emergency_access_granted').length, 1);
    assert.equal(of('org.allowlist.emergency_access_granted')[0]!.ip, HOTEL);
    assert.ok(of('org.allowlist.emergency_access_used').length >= 3, 'every request let in by the allowance');
    assert.ok(of('org.allowlist.emergency_access_refused').every((e) => e.outcome === 'failure'));
    assert.ok(of('org.allowlist.emergency_access_refused').length >= 2, 'the wrong and the expired code of the owner');
    const rows = JSON.stringify(await srv.db.selectFrom('audit_events').selectAll().execute());
    assert.ok(!rows.includes('kn_eac_'), 'no code in the audit log');
    const stored = await srv.db.selectFrom('emergency_access_codes').selectAll().execute();
    assert.ok(stored.length >= 2 && !JSON.stringify(stored).includes(code.slice(7)), 'codes stored as digests only');
    assert.ok(!srv.logText().includes(code.slice(7)), 'no code in the server log');
  });
});
