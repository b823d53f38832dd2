import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { Invalidation } from '../cache.js';
import { DEFAULT_PASSWORD_POLICY } from '../identity/password-policy.js';
import { OrgService } from './service.js';
import { oathtool } from '../test-support/totp.js';

describe('org policy: require two-factor authentication', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let token: string;
  before(async () => {
    srv = await startServer({ clock });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'K', 'policy-value');
    token = (await createToken(owner, { project: 'app', environment: 'development', access: 'read' })).token;
  });
  after(() => srv.close());

  it('is off by default; turning it on is audited', async () => {
    assert.equal((await owner('GET', '/api/v1/org/settings')).body.require2fa, 'off');
    assertError(await owner('PATCH', '/api/v1/org/settings', { require2fa: 'sometimes' }), 400, 'validation_failed');
    const res = await owner('PATCH', '/api/v1/org/settings', { require2fa: 'admins' });
    assert.equal(res.body.require2fa, 'admins');
    const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'org.settings.update').execute();
    assert.deepEqual(JSON.parse(audit[0]!.details), { require_2fa: 'off -> admins' });
  });

  it('a member without 2FA is held to enrolment at once: 403 two_factor_enrolment_required elsewhere', async () => {
    assertError(await owner('GET', '/api/v1/projects'), 403, 'two_factor_enrolment_required');
    assertError(await owner('GET', secretsPath('app', 'development', 'K')), 403, 'two_factor_enrolment_required');
    assertError(await owner('PATCH', '/api/v1/org/settings', { require2fa: 'off' }), 403, 'two_factor_enrolment_required');
    const me = await owner('GET', '/api/v1/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.principal.mustEnrolTwoFactor, true);
    assert.equal((await owner('GET', '/api/v1/me/sessions')).status, 200);
    // API tokens never sign in: the policy is about people.
    assert.equal((await api(srv, token)('GET', secretsPath('app', 'development', 'K'))).status, 200);
  });

  it('enrolling releases the session immediately (re-authenticating first when the sign-in is old)', async () => {
    clock.advance(11 * 60_000);
    assertError(await owner('POST', '/api/v1/me/2fa/totp'), 401, 'reauth_required');
    assert.equal((await owner('POST', '/api/v1/auth/reauth', { password: OWNER.password })).status, 204, 'allowed while held to enrolment');
    const enrol = await owner('POST', '/api/v1/me/2fa/totp');
    assert.equal(enrol.status, 200);
    assert.equal((await owner('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(enrol.body.secret, clock()) })).status, 200);
    assert.equal((await owner('GET', '/api/v1/projects')).status, 200);
    assert.equal((await owner('GET', '/api/v1/me')).body.principal.mustEnrolTwoFactor, false);
  });

  it('changing the policy needs settings:manage from a session, and a recent sign-in', async () => {
    assertError(await api(srv, token)('PATCH', '/api/v1/org/settings', { require2fa: 'off' }), 403, 'forbidden');
    clock.advance(11 * 60_000);
    assertError(await owner('PATCH', '/api/v1/org/settings', { require2fa: 'off' }), 401, 'reauth_required');
  });
});

describe('org settings: session limit and password policy (may only tighten the deployment)', () => {
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
  });
  after(() => srv.close());
  const ownerSignIn = async () => api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));

  it('shows the deployment values in force, and refuses to loosen them', async () => {
    const res = await owner('GET', '/api/v1/org/settings');
    assert.deepEqual(res.body.effective, { sessionLimit: 10, auditRetentionDays: 730, passwordPolicy: { minLength: 12, maxLength: 256, minScore: 3, requireClasses: 0 } });
    assert.deepEqual(res.body.passwordPolicy, { minLength: null, minScore: null, requireClasses: null });
    assertError(await owner('PATCH', '/api/v1/org/settings', { passwordPolicy: { minLength: 8 } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { passwordPolicy: { minScore: 2 } }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { sessionLimit: 11 }), 400, 'validation_failed');
    assertError(await owner('PATCH', '/api/v1/org/settings', { sessionLimit: 0 }), 400, 'validation_failed');
    // An admin must not be able to shorten the trail of their own actions.
    const shorter = await owner('PATCH', '/api/v1/org/settings', { auditRetentionDays: 30 });
    assertError(shorter, 400, 'validation_failed');
    assert.deepEqual(shorter.body.error.details, [{ path: '/auditRetentionDays', rule: 'range' }]);
  });

  it('audit records may be kept longer than the deployment default, and the change is audited', async () => {
    const res = await owner('PATCH', '/api/v1/org/settings', { auditRetentionDays: 3650 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.auditRetentionDays, 3650);
    assert.equal(res.body.effective.auditRetentionDays, 3650);
    const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'org.settings.update').orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(audit.details), { audit_retention_days: 'default -> 3650' });
    assert.equal((await owner('PATCH', '/api/v1/org/settings', { auditRetentionDays: null })).body.effective.auditRetentionDays, 730);
  });

  it('a longer minimum applies to password changes in the org', async () => {
    const res = await owner('PATCH', '/api/v1/org/settings', { passwordPolicy: { minLength: 30 } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.effective.passwordPolicy.minLength, 30);
    const change = await owner('POST', '/api/v1/me/password', { currentPassword: OWNER.password, newPassword: 'Granite-Pelican-Harbor-7731' });
    assertError(change, 400, 'weak_password');
    assert.deepEqual(change.body.error.details, { rule: 'too_short', minLength: 30 });
    assert.equal((await owner('PATCH', '/api/v1/org/settings', { passwordPolicy: { minLength: null } })).body.effective.passwordPolicy.minLength, 12, 'null goes back to the deployment value');
  });

  it('a lower session limit ends the oldest sessions at the next sign-in', async () => {
    assert.equal((await owner('PATCH', '/api/v1/org/settings', { sessionLimit: 2 })).status, 200);
    const a = await ownerSignIn();
    const b = await ownerSignIn();
    assert.equal((await owner('GET', '/api/v1/me')).status, 401, 'the oldest (the setup session) was ended');
    assert.deepEqual([(await a('GET', '/api/v1/me')).status, (await b('GET', '/api/v1/me')).status], [200, 200]);
    const c = await ownerSignIn();
    assert.deepEqual([(await a('GET', '/api/v1/me')).status, (await b('GET', '/api/v1/me')).status, (await c('GET', '/api/v1/me')).status], [401, 200, 200]);
    const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'org.settings.update').execute();
    assert.ok(audit.some((r) => r.details.includes('session_limit')));
    owner = c;
  });
});

describe('org settings never loosen a deployment that tightened later', () => {
  it('values saved under laxer deployment settings are clamped to the stricter ones now in force', async () => {
    const srv = await startServer();
    try {
      const owner = api(srv, await setupOwner(srv));
      assert.equal((await owner('PATCH', '/api/v1/org/settings', { sessionLimit: 5, passwordPolicy: { minLength: 14 } })).status, 200);
      const orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id as string;
      // The same stored settings, read by a deployment restarted with stricter values.
      const stricter = new OrgService({
        db: srv.db,
        keyring: srv.keynest.keyring,
        audit: srv.keynest.services.audit,
        invalidation: new Invalidation(),
        defaults: { sessionLimit: 3, passwordPolicy: { ...DEFAULT_PASSWORD_POLICY, minLength: 16 }, auditRetentionDays: 1000 },
      });
      assert.equal(await stricter.auditRetentionDays(orgId), 1000, 'a deployment that keeps records longer wins');
      assert.equal(await stricter.sessionLimit(srv.db, orgId), 3);
      assert.equal((await stricter.passwordPolicy(orgId)).minLength, 16);
    } finally {
      await srv.close();
    }
  });
});
