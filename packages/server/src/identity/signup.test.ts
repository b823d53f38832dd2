import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { startServer } from '../test-support/server.js';
import { mailedToken, nthMail, startServerWithMail, startSmtpServer } from '../test-support/smtp.js';

const PASSWORD = 'Juniper-Comet-Basalt-7719';
const SIGNUP = '/api/v1/auth/signup';
const VERIFY = '/api/v1/auth/signup/verify';

describe('open sign-up (real SMTP server)', () => {
  const clock = manualClock();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let srv: TestServer;
  let owner: Api;
  const anon = () => api(srv);
  const settle = () => srv.keynest.settled();
  const signIn = async (email: string, password: string) => {
    const res = await anon()('POST', '/api/v1/auth/login', { email, password });
    assert.equal(res.status, 200, res.text);
    return api(srv, res.body.accessToken);
  };
  const users = async () => (await srv.db.selectFrom('users').select('email').orderBy('email').execute()).map((r) => r.email);
  const pending = () => srv.db.selectFrom('signup_requests').selectAll().execute();
  const open = async (openSignup: Record<string, unknown>) => {
    owner = await signIn(OWNER.email, OWNER.password);
    const res = await owner('PATCH', '/api/v1/org/settings', { openSignup });
    assert.equal(res.status, 200, res.text);
    return res.body.openSignup;
  };

  before(async () => {
    ({ srv, smtp } = await startServerWithMail({ clock, env: { KEYNEST_PUBLIC_URL: 'https://keynest.example.test' } }));
    owner = api(srv, await setupOwner(srv));
  });
  after(async () => {
    await srv.close();
    await smtp.close();
  });

  it('is off by default: the request is answered 202, and no mail, row or user follows', async () => {
    assert.deepEqual((await owner('GET', '/api/v1/org/settings')).body.openSignup, { enabled: false, allowedDomains: [], role: 'viewer' });
    const res = await anon()('POST', SIGNUP, { email: 'new@acme.test', password: PASSWORD });
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, { status: 'sent_if_allowed' });
    await settle();
    assert.equal(smtp.received.length, 0);
    assert.deepEqual(await pending(), []);
    assert.deepEqual(await users(), [OWNER.email]);
  });

  it('an admin opens it: domains normalized, the role never one that runs the org, the change audited', async () => {
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { role: 'admin' } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { role: 'owner' } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { allowedDomains: ['not a domain'] } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { allowedDomains: ['acme'] } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { allowedDomains: Array.from({ length: 51 }, (_, i) => `d${i}.test`) } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: 'yes' } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: true, extra: 1 } }), 400, 'validation_failed');
    assert.equal((await owner('GET', '/api/v1/org/settings')).body.openSignup.enabled, false, 'a refused change changes nothing');

    const view = await open({ enabled: true, allowedDomains: ['Acme.test', '@example.org', 'acme.test'], role: 'developer' });
    assert.deepEqual(view, { enabled: true, allowedDomains: ['acme.test', 'example.org'], role: 'developer' });
    // A partial change keeps the other fields.
    assert.deepEqual(await open({ role: 'viewer' }), { enabled: true, allowedDomains: ['acme.test', 'example.org'], role: 'viewer' });
    assert.deepEqual(await open({ role: 'developer' }), view);
    const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'org.settings.update').orderBy('id').execute();
    assert.deepEqual(JSON.parse(audit[0]!.details), { open_signup: '0 -> 1', signup_domains: 'default -> acme.test,example.org', signup_role: 'viewer -> developer' });

    clock.advance(11 * 60_000);
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: false } }), 401, 'reauth_required');
  });

  it('an admitted address gets a link; with the password chosen it creates the account (verified, the set role) and signs in', async () => {
    const email = 'dana@acme.test';
    assert.equal((await anon()('POST', SIGNUP, { email: 'Dana@Acme.test', password: PASSWORD })).status, 202);
    await settle();
    const mail = await nthMail(smtp.received, 1);
    assert.deepEqual(mail.rcptTo, [email]);
    assert.match(mail.headers.get('subject') ?? '', /Finish signing up/);
    assert.match(mail.body, /https:\/\/keynest\.example\.test\/signup\/verify\?token=kn_sgn_/);
    assert.match(mail.body, /in the organization "Acme"/);
    const token = mailedToken(mail, 'sgn');
    const rows = await pending();
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.password_hash, /^\$argon2id\$/);
    assert.notEqual(rows[0]!.token_digest, token);
    assert.ok(!(await users()).includes(email), 'no account before the link is used');

    assertError(await anon()('POST', VERIFY, { token, password: 'Another-Strong-Pass-99' }), 401, 'invalid_credentials');
    const done = await anon()('POST', VERIFY, { token, password: PASSWORD });
    assert.equal(done.status, 201, done.text);
    assert.deepEqual(Object.keys(done.body).sort(), ['accessToken', 'accessTokenExpiresAt', 'org', 'refreshToken', 'session', 'tokenType', 'user']);
    assert.equal(done.body.user.email, email);
    assert.equal(done.body.org.name, OWNER.orgName);
    const member = api(srv, done.body.accessToken);
    const me = await member('GET', '/api/v1/me');
    assert.equal(me.body.principal.role, 'developer');
    const row = await srv.db.selectFrom('users').select('email_verified_at').where('email', '=', email).executeTakeFirstOrThrow();
    assert.equal(row.email_verified_at, clock());

    assertError(await anon()('POST', VERIFY, { token, password: PASSWORD }), 400, 'invalid_signup_token');
    await signIn(email, PASSWORD);
    // A developer has no settings:manage.
    assertError(await member('PATCH', '/api/v1/org/settings', { openSignup: { role: 'viewer' } }), 403, 'forbidden');
    assertError(await member('GET', '/api/v1/org/settings'), 403, 'forbidden');

    const audit = await srv.db.selectFrom('audit_events').select(['action', 'actor_type', 'org_id', 'details']).where('action', 'in', ['user.signup_requested', 'user.signup', 'session.create']).orderBy('id').execute();
    const mine = audit.filter((r) => r.action !== 'session.create' || r.details.includes('open_signup'));
    assert.deepEqual(mine.map((r) => r.action), ['user.signup_requested', 'user.signup', 'session.create']);
    assert.deepEqual(JSON.parse(mine[1]!.details), { method: 'open_signup', role: 'developer' });
    for (const r of audit) {
      assert.ok(r.org_id, 'in the org audit log');
      assert.ok(!r.details.includes(token) && !r.details.includes(PASSWORD) && !r.details.includes('kn_'), r.details);
    }
  });

  it('an admitted address that has an account gets a mail saying so, and nothing else changes', async () => {
    await open({ allowedDomains: ['acme.test', 'example.org', 'example.com'] });
    const before = smtp.received.length;
    assert.equal((await anon()('POST', SIGNUP, { email: OWNER.email.toUpperCase(), password: PASSWORD })).status, 202);
    await settle();
    const mail = await nthMail(smtp.received, before + 1);
    assert.deepEqual(mail.rcptTo, [OWNER.email]);
    assert.match(mail.body, /already has an account/);
    assert.match(mail.body, /forgot your password/);
    assert.doesNotMatch(mail.body, /kn_/);
    assert.deepEqual((await pending()).filter((r) => r.email === OWNER.email), []);
    await signIn(OWNER.email, OWNER.password);
    await open({ allowedDomains: ['acme.test', 'example.org'] });
  });

  it('another domain, or an org that does not exist, gets the same 202 and nothing happens', async () => {
    const before = smtp.received.length;
    const rowsBefore = (await pending()).length;
    for (const body of [
      { email: 'eve@elsewhere.test', password: PASSWORD },
      { email: 'eve@eu.acme.test', password: PASSWORD },
      { email: 'eve@acme.test', password: PASSWORD, org: 'No Such Org' },
    ]) {
      const res = await anon()('POST', SIGNUP, body);
      assert.equal(res.status, 202);
      assert.deepEqual(res.body, { status: 'sent_if_allowed' });
    }
    await settle();
    assert.equal(smtp.received.length, before);
    assert.equal((await pending()).length, rowsBefore);
    // The org may be named by its name or id.
    const orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id as string;
    assert.equal((await anon()('POST', SIGNUP, { email: 'finn@example.org', password: PASSWORD, org: orgId })).status, 202);
    await settle();
    assert.deepEqual((await nthMail(smtp.received, before + 1)).rcptTo, ['finn@example.org']);
  });

  it('the password policy is checked first, and its answer may say which rule failed', async () => {
    const weak = await anon()('POST', SIGNUP, { email: 'gil@acme.test', password: 'password1234' });
    assertError(weak, 400, 'weak_password');
    assert.equal(weak.body.error.details.rule, 'too_common');
    const personal = await anon()('POST', SIGNUP, { email: 'gil@acme.test', password: 'gil-Juniper-Comet-77' });
    assertError(personal, 400, 'weak_password');
    assert.equal(personal.body.error.details.rule, 'contains_personal_info');
    assert.doesNotMatch(weak.text + personal.text, /password1234|gil-Juniper/);
  });

  it('a pending sign-up never blocks a later one: each link works once, the first used wins', async () => {
    const before = smtp.received.length;
    const email = 'hana@acme.test';
    const second = 'Orchid-Walrus-Lantern-3381';
    assert.equal((await anon()('POST', SIGNUP, { email, password: PASSWORD })).status, 202);
    await settle();
    assert.equal((await anon()('POST', SIGNUP, { email, password: second })).status, 202);
    await settle();
    const first = mailedToken(await nthMail(smtp.received, before + 1), 'sgn');
    const later = mailedToken(await nthMail(smtp.received, before + 2), 'sgn');
    assert.notEqual(first, later);
    assert.equal((await anon()('POST', VERIFY, { token: later, password: second })).status, 201);
    assertError(await anon()('POST', VERIFY, { token: first, password: PASSWORD }), 400, 'invalid_signup_token');
    assert.equal((await users()).filter((u) => u === email).length, 1);
    await signIn(email, second);
  });

  it('closing sign-up, or dropping the domain, stops links already mailed', async () => {
    const before = smtp.received.length;
    await anon()('POST', SIGNUP, { email: 'ivo@acme.test', password: PASSWORD });
    await anon()('POST', SIGNUP, { email: 'jo@example.org', password: PASSWORD });
    await settle();
    const ivo = mailedToken(await nthMail(smtp.received, before + 1), 'sgn');
    const jo = mailedToken(await nthMail(smtp.received, before + 2), 'sgn');
    await open({ allowedDomains: ['acme.test'] });
    assertError(await anon()('POST', VERIFY, { token: jo, password: PASSWORD }), 400, 'invalid_signup_token');
    await open({ enabled: false });
    assertError(await anon()('POST', VERIFY, { token: ivo, password: PASSWORD }), 400, 'invalid_signup_token');
    await open({ enabled: true });
    assert.equal((await anon()('POST', VERIFY, { token: ivo, password: PASSWORD })).status, 201, 'reopened: the link works again');
  });

  it('a link expires after 24 hours; forged and foreign tokens are refused', async () => {
    const before = smtp.received.length;
    await anon()('POST', SIGNUP, { email: 'kim@acme.test', password: PASSWORD });
    await settle();
    const token = mailedToken(await nthMail(smtp.received, before + 1), 'sgn');
    clock.advance(24 * 3600_000);
    assertError(await anon()('POST', VERIFY, { token, password: PASSWORD }), 400, 'invalid_signup_token');
    assertError(await anon()('POST', VERIFY, { token: token.replace('kn_sgn_', 'kn_inv_'), password: PASSWORD }), 400, 'invalid_signup_token');
    assertError(await anon()('POST', VERIFY, { token: `kn_sgn_${'A'.repeat(43)}`, password: PASSWORD }), 400, 'invalid_signup_token');
    assertError(await anon()('POST', VERIFY, { token: 'garbage', password: PASSWORD }), 400, 'invalid_signup_token');
    assertError(await anon()('POST', VERIFY, { token }), 400, 'validation_failed');
    // The next request sweeps expired rows: their password hashes are of no use to anyone.
    await anon()('POST', SIGNUP, { email: 'lee@acme.test', password: PASSWORD });
    await settle();
    assert.deepEqual((await pending()).filter((r) => r.expires_at <= clock()), []);
  });

  it('tokens and passwords never reach the log', () => {
    const log = srv.logText();
    assert.doesNotMatch(log, /kn_sgn_/);
    assert.ok(!log.includes(PASSWORD));
    assert.match(log, /"kind":"signup_verification"/, 'mails are logged, by kind only');
  });
});

describe('open sign-up: limits', () => {
  it('requests for one email are limited whatever the client address (429), so a mailbox cannot be flooded', async () => {
    const srv = await startServer({ env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    try {
      await setupOwner(srv);
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const from = { headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } };
        statuses.push((await api(srv)('POST', SIGNUP, { email: 'flood@acme.test', password: PASSWORD }, from)).status);
      }
      assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429, 429]);
      const refused = await api(srv)('POST', SIGNUP, { email: 'flood@acme.test', password: PASSWORD });
      assertError(refused, 429, 'rate_limited');
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
    } finally {
      await srv.close();
    }
  });

  it("weak passwords refused do not spend the address's allowance; every request spends the client's", async () => {
    const srv = await startServer();
    try {
      await setupOwner(srv);
      const call = (password: string) => api(srv)('POST', SIGNUP, { email: 'typo@acme.test', password });
      for (let i = 0; i < 6; i++) assertError(await call(`weak${i}`), 400, 'weak_password');
      assert.equal((await call(PASSWORD)).status, 202);
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) statuses.push((await call(`weak${i}`)).status);
      assert.deepEqual(statuses.slice(-2), [429, 429], 'at most 20 requests per client address in 15 minutes');
    } finally {
      await srv.close();
    }
  });
});
