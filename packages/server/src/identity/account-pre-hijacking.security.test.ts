import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { mailedToken, nthMail, startServerWithMail, startSmtpServer } from '../test-support/smtp.js';

/**
 * Pre-account hijacking (Sudhodanan & Paverd, 2022): an attacker starts an account for the victim's
 * address with a password of their own, and waits for the victim to complete it. Here the mailed
 * link works only with the password chosen when it was asked for, a pending sign-up never voids
 * another, and an invitation's token reaches only the invitee's mailbox.
 */
describe('nobody can prepare an account for someone else', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let srv: TestServer;
  let owner: Api;
  const VICTIM = 'victim@acme.test';
  const ATTACKER_PASSWORD = 'Attacker-Chosen-Pass-4417';
  const VICTIM_PASSWORD = 'Maple-Harbor-Quiet-Pass-8823';
  const anon = () => api(srv);

  before(async () => {
    ({ srv, smtp } = await startServerWithMail());
    owner = api(srv, await setupOwner(srv));
    assert.equal((await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: true, allowedDomains: ['acme.test'] } })).status, 200);
  });
  after(async () => {
    await srv.close();
    await smtp.close();
  });

  it("the attacker's link, clicked by the victim, creates nothing; the victim's own link still works", async () => {
    await anon()('POST', '/api/v1/auth/signup', { email: VICTIM, password: ATTACKER_PASSWORD });
    await srv.keynest.settled();
    await anon()('POST', '/api/v1/auth/signup', { email: VICTIM, password: VICTIM_PASSWORD });
    await srv.keynest.settled();
    // The attacker asks again after the victim, hoping to void the victim's link: it stays valid.
    await anon()('POST', '/api/v1/auth/signup', { email: VICTIM, password: ATTACKER_PASSWORD });
    await srv.keynest.settled();
    const [attackers, victims, attackersAgain] = [await nthMail(smtp.received, 1), await nthMail(smtp.received, 2), await nthMail(smtp.received, 3)].map((m) => mailedToken(m, 'sgn'));

    // The victim follows the first mail with their own password: refused, and no account appears.
    assertError(await anon()('POST', '/api/v1/auth/signup/verify', { token: attackers, password: VICTIM_PASSWORD }), 401, 'invalid_credentials');
    assert.equal(await srv.db.selectFrom('users').select('id').where('email', '=', VICTIM).executeTakeFirst(), undefined);
    // Without the mailbox, the attacker has no token to use their password with.
    assertError(await anon()('POST', '/api/v1/auth/signup/verify', { token: `kn_sgn_${'B'.repeat(43)}`, password: ATTACKER_PASSWORD }), 400, 'invalid_signup_token');

    assert.equal((await anon()('POST', '/api/v1/auth/signup/verify', { token: victims!, password: VICTIM_PASSWORD })).status, 201);
    assertError(await anon()('POST', '/api/v1/auth/login', { email: VICTIM, password: ATTACKER_PASSWORD }), 401, 'invalid_credentials');
    assert.equal((await anon()('POST', '/api/v1/auth/login', { email: VICTIM, password: VICTIM_PASSWORD })).status, 200);
    // The attacker's links are spent now that the account exists.
    assertError(await anon()('POST', '/api/v1/auth/signup/verify', { token: attackersAgain!, password: ATTACKER_PASSWORD }), 400, 'invalid_signup_token');
  });

  it('an invitation token is mailed to the invitee only: the inviter never sees it', async () => {
    const res = await owner('POST', '/api/v1/org/invitations', { email: 'invitee@elsewhere.test', role: 'viewer' });
    assert.equal(res.status, 201, res.text);
    assert.doesNotMatch(res.text, /kn_inv_/);
    const listed = await owner('GET', '/api/v1/org/invitations');
    assert.doesNotMatch(listed.text, /kn_inv_|token/i);
    const mail = await nthMail(smtp.received, 4);
    assert.deepEqual(mail.rcptTo, ['invitee@elsewhere.test']);
    const digest = await srv.db.selectFrom('invitations').select('token_digest').executeTakeFirstOrThrow();
    assert.notEqual(digest.token_digest, mailedToken(mail, 'inv'));
  });
});
