import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { startServer } from '../test-support/server.js';
import { startServerWithMail, startSmtpServer, type ReceivedMail } from '../test-support/smtp.js';

async function nextMail(received: ReceivedMail[], count: number): Promise<ReceivedMail> {
  for (let i = 0; i < 100 && received.length < count; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(received.length, count, 'mail did not arrive');
  return received[count - 1]!;
}

const tokenIn = (mail: ReceivedMail, kind: 'rst' | 'vfy') => {
  const m = new RegExp(`kn_${kind}_[A-Za-z0-9_-]{43}`).exec(mail.body);
  assert.ok(m, `no ${kind} token in: ${mail.body}`);
  return m[0];
};

describe('password reset and email verification (real SMTP server)', () => {
  const clock = manualClock();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let srv: TestServer;
  let owner: Api;
  let mailCount = 0;
  const anon = () => api(srv);
  before(async () => {
    ({ srv, smtp } = await startServerWithMail({ clock, env: { KEYNEST_PUBLIC_URL: 'https://keynest.example.test' } }));
    owner = api(srv, await setupOwner(srv));
  });
  after(async () => {
    await srv.close();
    await smtp.close();
  });

  it('asking for a reset answers the same for known and unknown emails; only a real account gets a mail', async () => {
    const known = await anon()('POST', '/api/v1/auth/password-reset', { email: OWNER.email.toUpperCase() });
    const unknown = await anon()('POST', '/api/v1/auth/password-reset', { email: 'nobody@example.com' });
    assert.equal(known.status, 202);
    assert.equal(unknown.status, 202);
    assert.deepEqual(known.body, unknown.body);
    const mail = await nextMail(smtp.received, ++mailCount);
    assert.deepEqual(mail.rcptTo, [OWNER.email]);
    assert.match(mail.body, /https:\/\/keynest\.example\.test\/reset-password\?token=kn_rst_/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(smtp.received.length, mailCount, 'no mail for an unknown email');
  });

  it('the link sets a new password once, ends every session, and needs a strong password', async () => {
    const token = tokenIn(smtp.received[mailCount - 1]!, 'rst');
    const other = api(srv, (await anon()('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password })).body.accessToken);
    const weak = await anon()('POST', '/api/v1/auth/password-reset/confirm', { token, newPassword: 'password1234' });
    assertError(weak, 400, 'weak_password');
    const next = 'Quartz-Heron-Lantern-5512';
    assert.equal((await anon()('POST', '/api/v1/auth/password-reset/confirm', { token, newPassword: next })).status, 204);
    assertError(await anon()('POST', '/api/v1/auth/password-reset/confirm', { token, newPassword: 'Another-Strong-Pass-99' }), 400, 'invalid_reset_token');
    assertError(await owner('GET', '/api/v1/me'), 401, 'unauthenticated');
    assertError(await other('GET', '/api/v1/me'), 401, 'unauthenticated');
    assertError(await anon()('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password }), 401, 'invalid_credentials');
    const signedIn = await anon()('POST', '/api/v1/auth/login', { email: OWNER.email, password: next });
    assert.equal(signedIn.status, 200);
    owner = api(srv, signedIn.body.accessToken);
    const audit = await srv.db.selectFrom('audit_events').select(['action', 'details', 'org_id']).where('action', 'in', ['password.reset', 'password.reset_requested']).execute();
    assert.deepEqual(audit.map((r) => r.action).sort(), ['password.reset', 'password.reset_requested']);
    for (const r of audit) assert.ok(r.org_id, 'in the org audit log, where its admins see it');
    for (const r of audit) assert.ok(!r.details.includes(token) && !r.details.includes(next));
    mailCount = smtp.received.length;
  });

  it('a link expires after 30 minutes, and a newer link voids the older one', async () => {
    await anon()('POST', '/api/v1/auth/password-reset', { email: OWNER.email });
    const first = tokenIn(await nextMail(smtp.received, ++mailCount), 'rst');
    await anon()('POST', '/api/v1/auth/password-reset', { email: OWNER.email });
    const second = tokenIn(await nextMail(smtp.received, ++mailCount), 'rst');
    assertError(await anon()('POST', '/api/v1/auth/password-reset/confirm', { token: first, newPassword: 'Another-Strong-Pass-99' }), 400, 'invalid_reset_token');
    clock.advance(30 * 60_000);
    assertError(await anon()('POST', '/api/v1/auth/password-reset/confirm', { token: second, newPassword: 'Another-Strong-Pass-99' }), 400, 'invalid_reset_token');
    assertError(await anon()('POST', '/api/v1/auth/password-reset/confirm', { token: 'kn_rst_forged', newPassword: 'Another-Strong-Pass-99' }), 400, 'invalid_reset_token');
  });

  it('a password change voids a reset link mailed before it', async () => {
    owner = api(srv, (await anon()('POST', '/api/v1/auth/login', { email: OWNER.email, password: 'Quartz-Heron-Lantern-5512' })).body.accessToken);
    mailCount = smtp.received.length;
    await anon()('POST', '/api/v1/auth/password-reset', { email: OWNER.email });
    const token = tokenIn(await nextMail(smtp.received, ++mailCount), 'rst');
    assert.equal((await owner('POST', '/api/v1/me/password', { currentPassword: 'Quartz-Heron-Lantern-5512', newPassword: 'Meadow-Falcon-Copper-8824' })).status, 200);
    assertError(await anon()('POST', '/api/v1/auth/password-reset/confirm', { token, newPassword: 'Another-Strong-Pass-99' }), 400, 'invalid_reset_token');
    assert.equal((await owner('POST', '/api/v1/me/password', { currentPassword: 'Meadow-Falcon-Copper-8824', newPassword: 'Quartz-Heron-Lantern-5512' })).status, 200);
    mailCount = smtp.received.length;
  });

  it('reset requests are rate limited per email and address (429), so a mailbox cannot be flooded', async () => {
    let status = 0;
    for (let i = 0; i < 6 && status !== 429; i++) status = (await anon()('POST', '/api/v1/auth/password-reset', { email: 'flood@example.com' })).status;
    assert.equal(status, 429);
  });

  it('email verification: a signed-in user mails themselves a link that confirms the address once', async () => {
    const before = await srv.db.selectFrom('users').select('email_verified_at').executeTakeFirstOrThrow();
    assert.equal(before.email_verified_at, null);
    // A fresh session: the clock moved past the idle timeout of the last one.
    owner = api(srv, (await anon()('POST', '/api/v1/auth/login', { email: OWNER.email, password: 'Quartz-Heron-Lantern-5512' })).body.accessToken);
    mailCount = smtp.received.length;
    assert.equal((await owner('POST', '/api/v1/me/email/verification')).status, 202);
    const token = tokenIn(await nextMail(smtp.received, ++mailCount), 'vfy');
    assert.equal((await anon()('POST', '/api/v1/auth/verify-email', { token })).status, 204);
    assertError(await anon()('POST', '/api/v1/auth/verify-email', { token }), 400, 'invalid_verification_token');
    const after = await srv.db.selectFrom('users').select('email_verified_at').executeTakeFirstOrThrow();
    assert.equal(after.email_verified_at, clock());
    // A reset token is not a verification token, and the other way round.
    assertError(await anon()('POST', '/api/v1/auth/verify-email', { token: token.replace('kn_vfy_', 'kn_rst_') }), 400, 'invalid_verification_token');
  });

  it('tokens never reach the log', () => {
    const log = srv.logText();
    assert.doesNotMatch(log, /kn_(rst|vfy)_/);
  });
});

describe('mailed links: limits and failures', () => {
  it('reset requests for one email are limited whatever the client address (no mailbox flood by rotating addresses)', async () => {
    const srv = await startServer({ env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    try {
      await setupOwner(srv);
      const statuses = [];
      for (let i = 0; i < 7; i++) {
        statuses.push((await api(srv)('POST', '/api/v1/auth/password-reset', { email: OWNER.email }, { headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } })).status);
      }
      assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429, 429]);
    } finally {
      await srv.close();
    }
  });

  it('a mail server that is down does not fail the request (202), and the failure is logged without the token', async () => {
    const srv = await startServer({ env: { KEYNEST_SMTP_URL: 'smtp://127.0.0.1:1' } });
    try {
      const owner = api(srv, await setupOwner(srv));
      assert.equal((await owner('POST', '/api/v1/me/email/verification')).status, 202);
      for (let i = 0; i < 100 && !srv.logText().includes('mail not sent'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(srv.logText(), /mail not sent/);
      assert.doesNotMatch(srv.logText(), /kn_vfy_/);
    } finally {
      await srv.close();
    }
  });
});
