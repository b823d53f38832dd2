import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { mailedToken, startServerWithMail, startSmtpServer } from '../test-support/smtp.js';
import { oathtool } from '../test-support/totp.js';

const PASSWORD = 'Juniper-Comet-Basalt-7719';
const INVITATIONS = '/api/v1/org/invitations';
const ACCEPT = '/api/v1/auth/invitations/accept';
const DAY_MS = 24 * 3600_000;

describe('invitations (real SMTP server)', () => {
  const clock = manualClock();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let srv: TestServer;
  let owner: Api;
  let ip = 0;
  // A fresh client address per anonymous call: the per-address limits are tested elsewhere.
  const anon = (): Api => (method, path, body, opts) => api(srv)(method, path, body, { ...opts, headers: { 'x-forwarded-for': `198.51.100.${++ip % 250}` } });
  const signIn = async (email: string, password: string, extra: Record<string, string> = {}) => {
    const res = await anon()('POST', '/api/v1/auth/login', { email, password, ...extra });
    assert.equal(res.status, 200, res.text);
    return api(srv, res.body.accessToken);
  };
  const seen = new Set<string>();
  /** The newest invitation mailed to `email` (security notices may arrive in between). */
  const invitationMailTo = async (email: string) => {
    for (let i = 0; i < 250; i++) {
      const mail = smtp.received.find((m) => m.rcptTo.includes(email) && /kn_inv_/.test(m.body) && !seen.has(mailedToken(m, 'inv')));
      if (mail) {
        seen.add(mailedToken(mail, 'inv'));
        return mail;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no invitation mailed to ${email}`);
  };
  /** Invites and returns the mailed token. */
  const invite = async (caller: Api, email: string, role: string): Promise<{ id: string; token: string }> => {
    const res = await caller('POST', INVITATIONS, { email, role });
    assert.equal(res.status, 201, res.text);
    return { id: res.body.invitation.id, token: mailedToken(await invitationMailTo(email), 'inv') };
  };
  const roleOf = async (caller: Api) => (await caller('GET', '/api/v1/me')).body.principal.role as string;

  before(async () => {
    ({ srv, smtp } = await startServerWithMail({ clock, env: { KEYNEST_PUBLIC_URL: 'https://keynest.example.test', KEYNEST_TRUST_PROXY: '127.0.0.1' } }));
    owner = api(srv, await setupOwner(srv));
  });
  after(async () => {
    await srv.close();
    await smtp.close();
  });

  it('an owner invites with a role; the invitee accepts with a new password: signed in, with that role, email verified', async () => {
    const res = await owner('POST', INVITATIONS, { email: 'Ada@Example.org', role: 'admin' });
    assert.equal(res.status, 201, res.text);
    const { invitation } = res.body;
    assert.deepEqual(Object.keys(invitation).sort(), ['createdAt', 'customRole', 'email', 'expiresAt', 'id', 'invitedBy', 'role']);
    assert.equal(invitation.email, 'ada@example.org');
    assert.equal(invitation.role, 'admin');
    assert.equal(invitation.invitedBy.email, OWNER.email);
    assert.equal(Date.parse(invitation.expiresAt) - Date.parse(invitation.createdAt), 7 * DAY_MS);
    const mail = await invitationMailTo('ada@example.org');
    assert.match(mail.headers.get('subject') ?? '', /join Acme/);
    assert.match(mail.body, new RegExp(`${OWNER.email} invited you`));
    assert.match(mail.body, /https:\/\/keynest\.example\.test\/accept-invitation\?token=kn_inv_/);
    assert.match(mail.body, /keynest invitations accept kn_inv_/);
    assert.match(mail.body, /within 7 days/);
    const token = mailedToken(mail, 'inv');

    assert.deepEqual((await owner('GET', INVITATIONS)).body, { invitations: [invitation] });
    const weak = await anon()('POST', ACCEPT, { token, password: 'password1234' });
    assertError(weak, 400, 'weak_password');
    const personal = await anon()('POST', ACCEPT, { token, password: 'Acme-Granite-Pelican-77' });
    assertError(personal, 400, 'weak_password');
    assert.equal(personal.body.error.details.field, 'orgName', "the org's name counts as personal information");

    // Accepted in a browser: the refresh token goes only into the HttpOnly cookie.
    const accepted = await anon()('POST', ACCEPT, { token, password: PASSWORD, refreshTokenDelivery: 'cookie' });
    assert.equal(accepted.status, 201, accepted.text);
    assert.equal(accepted.body.refreshToken, undefined);
    assert.match(accepted.headers.getSetCookie()[0] ?? '', /^__Host-keynest_refresh=kn_ref_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict$/);
    assert.match(accepted.headers.getSetCookie()[1] ?? '', /^__Host-keynest_csrf=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; Secure; SameSite=Strict$/);
    assert.equal(accepted.body.user.email, 'ada@example.org');
    assert.equal(accepted.body.org.name, OWNER.orgName);
    assert.equal(await roleOf(api(srv, accepted.body.accessToken)), 'admin');
    const user = await srv.db.selectFrom('users').select('email_verified_at').where('email', '=', 'ada@example.org').executeTakeFirstOrThrow();
    assert.equal(user.email_verified_at, clock());
    assert.deepEqual((await owner('GET', INVITATIONS)).body, { invitations: [] });
    assertError(await anon()('POST', ACCEPT, { token, password: PASSWORD }), 400, 'invalid_invitation_token');
    await signIn('ada@example.org', PASSWORD);

    const audit = await srv.db.selectFrom('audit_events').select(['action', 'actor_type', 'actor_id', 'details', 'org_id']).where('action', 'in', ['invitation.create', 'invitation.accept', 'user.signup']).orderBy('id').execute();
    assert.deepEqual(audit.map((r) => r.action), ['invitation.create', 'user.signup', 'invitation.accept']);
    assert.deepEqual(JSON.parse(audit[1]!.details), { method: 'invitation', role: 'admin' });
    assert.deepEqual(JSON.parse(audit[2]!.details), { role: 'admin', newAccount: true });
    assert.equal(audit[2]!.actor_id, accepted.body.user.id);
    for (const r of audit) {
      assert.ok(r.org_id);
      assert.ok(!r.details.includes('kn_') && !r.details.includes(PASSWORD), r.details);
    }
  });

  it('inviting a member is refused (409 already_member); inviting again replaces the pending invitation', async () => {
    assertError(await owner('POST', INVITATIONS, { email: OWNER.email, role: 'viewer' }), 409, 'already_member');
    assertError(await owner('POST', INVITATIONS, { email: 'ADA@example.org', role: 'viewer' }), 409, 'already_member');
    const first = await invite(owner, 'bob@example.org', 'viewer');
    const second = await invite(owner, 'bob@example.org', 'developer');
    const listed = (await owner('GET', INVITATIONS)).body.invitations;
    assert.deepEqual(listed.map((i: { id: string; role: string }) => [i.id, i.role]), [[second.id, 'developer']]);
    assertError(await anon()('POST', ACCEPT, { token: first.token, password: PASSWORD }), 400, 'invalid_invitation_token');
    const accepted = await anon()('POST', ACCEPT, { token: second.token, password: PASSWORD });
    assert.equal(accepted.status, 201);
    assert.equal(await roleOf(api(srv, accepted.body.accessToken)), 'developer');
    const revoked = await srv.db.selectFrom('audit_events').select(['target_id', 'details']).where('action', '=', 'invitation.revoke').execute();
    assert.deepEqual(revoked.map((r) => [r.target_id, JSON.parse(r.details)]), [[first.id, { reason: 'replaced', by: second.id }]]);
  });

  it("a revoked invitation's link is refused; revoking is audited; other ids are not found", async () => {
    const { id, token } = await invite(owner, 'carl@example.org', 'viewer');
    assert.equal((await owner('DELETE', `${INVITATIONS}/${id}`)).status, 204);
    assertError(await anon()('POST', ACCEPT, { token, password: PASSWORD }), 400, 'invalid_invitation_token');
    assertError(await owner('DELETE', `${INVITATIONS}/${id}`), 404, 'invitation_not_found');
    assertError(await owner('DELETE', `${INVITATIONS}/inv_nope`), 404, 'invitation_not_found');
    const accepted = (await srv.db.selectFrom('invitations').select('id').where('accepted_at', 'is not', null).executeTakeFirstOrThrow()).id;
    assertError(await owner('DELETE', `${INVITATIONS}/${accepted}`), 404, 'invitation_not_found');
    const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'invitation.revoke').where('target_id', '=', id).execute();
    assert.deepEqual(audit.map((r) => JSON.parse(r.details)), [{ reason: 'revoked' }]);
    for (const token of ['garbage', `kn_inv_${'A'.repeat(43)}`, `kn_sgn_${'A'.repeat(43)}`]) {
      assertError(await anon()('POST', ACCEPT, { token, password: PASSWORD }), 400, 'invalid_invitation_token');
    }
    assertError(await owner('POST', INVITATIONS, { email: 'not-an-email', role: 'viewer' }), 400, 'validation_failed');
    assertError(await owner('POST', INVITATIONS, { email: 'x@example.org', role: 'superuser' }), 400, 'validation_failed');
    assertError(await owner('POST', INVITATIONS, { email: 'x@example.org' }), 400, 'validation_failed');
  });

  it('inviting needs a recent sign-in (step-up); listing and revoking do not', async () => {
    clock.advance(11 * 60_000);
    assertError(await owner('POST', INVITATIONS, { email: 'dora@example.org', role: 'viewer' }), 401, 'reauth_required');
    assert.equal((await owner('GET', INVITATIONS)).status, 200);
    assert.equal((await owner('POST', '/api/v1/auth/reauth', { password: OWNER.password })).status, 204);
    await invite(owner, 'dora@example.org', 'viewer');
  });

  it('an existing account (no longer a member) joins only with its password, and its code when it has 2FA', async () => {
    const first = await invite(owner, 'fay@example.org', 'viewer');
    const joined = await anon()('POST', ACCEPT, { token: first.token, password: PASSWORD });
    const fay = api(srv, joined.body.accessToken);
    const enrol = await fay('POST', '/api/v1/me/2fa/totp');
    assert.equal(enrol.status, 200, enrol.text);
    assert.equal((await fay('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(enrol.body.secret, clock()) })).status, 200);
    // Removed from the org (what issue 4's member removal will do): the account stays.
    await srv.db.deleteFrom('memberships').where('user_id', '=', joined.body.user.id).execute();
    assertError(await fay('GET', '/api/v1/me'), 401, 'unauthenticated');

    const again = await invite(owner, 'fay@example.org', 'developer');
    assertError(await anon()('POST', ACCEPT, { token: again.token, password: 'Wrong-Guess-Password-11' }), 401, 'invalid_credentials');
    assertError(await anon()('POST', ACCEPT, { token: again.token, password: PASSWORD }), 401, 'two_factor_required');
    assertError(await anon()('POST', ACCEPT, { token: again.token, password: PASSWORD, totp: '000000' }), 401, 'invalid_two_factor_code');
    clock.advance(30_000);
    const accepted = await anon()('POST', ACCEPT, { token: again.token, password: PASSWORD, totp: oathtool(enrol.body.secret, clock()) });
    assert.equal(accepted.status, 201, accepted.text);
    assert.equal(accepted.body.user.id, joined.body.user.id, 'the same account');
    assert.equal(await roleOf(api(srv, accepted.body.accessToken)), 'developer');
    // Failures are recorded against the account (as failed sign-ins are), the success against the invitation.
    const audit = await srv.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'invitation.accept')
      .where('target_id', 'in', [again.id, joined.body.user.id])
      .orderBy('id')
      .execute();
    assert.deepEqual(audit.map((r) => [r.outcome, JSON.parse(r.details).reason ?? JSON.parse(r.details).newAccount]), [['failure', 'wrong_password'], ['failure', 'wrong_second_factor'], ['success', false]]);
    assertError(await anon()('POST', ACCEPT, { token: again.token, password: PASSWORD }), 400, 'invalid_invitation_token');
  });

  it('a removed member who forgot their password resets it, then joins again with the new one', async () => {
    const first = await anon()('POST', ACCEPT, { token: (await invite(owner, 'kit@example.org', 'developer')).token, password: PASSWORD });
    assert.equal(first.status, 201, first.text);
    assert.equal((await owner('DELETE', `/api/v1/org/members/${first.body.user.id}`)).status, 200);
    // The account is in no org now; a reset must still reach it.
    assert.equal((await anon()('POST', '/api/v1/auth/password-reset', { email: 'kit@example.org' })).status, 202);
    let resetMail;
    for (let i = 0; i < 250 && !resetMail; i++) {
      resetMail = smtp.received.find((m) => m.rcptTo.includes('kit@example.org') && /kn_rst_/.test(m.body));
      if (!resetMail) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(resetMail, 'a reset link is mailed to an account without an org');
    const newPassword = 'Granite-Otter-Lantern-5150';
    assert.equal((await anon()('POST', '/api/v1/auth/password-reset/confirm', { token: mailedToken(resetMail, 'rst'), newPassword })).status, 204);
    const { token } = await invite(owner, 'kit@example.org', 'viewer');
    assertError(await anon()('POST', ACCEPT, { token, password: PASSWORD }), 401, 'invalid_credentials');
    const again = await anon()('POST', ACCEPT, { token, password: newPassword });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.body.user.id, first.body.user.id, 'the same account');
    assert.equal(await roleOf(api(srv, again.body.accessToken)), 'viewer');
  });

  it('a wrong password on an existing account counts towards the sign-in lock', async () => {
    const { user } = (await anon()('POST', ACCEPT, { token: (await invite(owner, 'gus@example.org', 'viewer')).token, password: PASSWORD })).body;
    await srv.db.deleteFrom('memberships').where('user_id', '=', user.id).execute();
    const { token } = await invite(owner, 'gus@example.org', 'viewer');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await anon()('POST', ACCEPT, { token, password: `Wrong-Guess-Password-${i}` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 423]);
    assertError(await anon()('POST', ACCEPT, { token, password: PASSWORD }), 423, 'account_locked');
  });

  it('an invitation expires after 7 days', async () => {
    const early = await invite(owner, 'hal@example.org', 'viewer');
    const late = await invite(owner, 'ivy@example.org', 'viewer');
    clock.advance(7 * DAY_MS - 60_000);
    assert.equal((await anon()('POST', ACCEPT, { token: early.token, password: PASSWORD })).status, 201);
    clock.advance(60_000);
    assertError(await anon()('POST', ACCEPT, { token: late.token, password: PASSWORD }), 400, 'invalid_invitation_token');
    owner = await signIn(OWNER.email, OWNER.password);
    assert.ok(!(await owner('GET', INVITATIONS)).body.invitations.some((i: { email: string }) => i.email === 'ivy@example.org'), 'expired ones are not pending');
  });

  it('tokens and passwords never reach the log', () => {
    const log = srv.logText();
    assert.doesNotMatch(log, /kn_inv_/);
    assert.ok(!log.includes(PASSWORD));
    assert.match(log, /"kind":"invitation"/);
  });
});
