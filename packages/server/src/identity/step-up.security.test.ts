import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { oathtool } from '../test-support/totp.js';

const MIN = 60_000;
const tokenBody = { name: 'deploy', project: 'app', environment: 'production', access: 'read' as const };

describe('step-up: sensitive actions need a recent sign-in', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let readToken: string;
  before(async () => {
    srv = await startServer({ clock });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'production', 'DB_PASS', 'prod-value-step-up');
    await putSecret(owner, 'app', 'development', 'DB_PASS', 'dev-value-step-up');
    readToken = (await createToken(owner, { ...tokenBody, name: 'reader' })).token;
  });
  after(() => srv.close());

  it('right after sign-in everything is allowed', async () => {
    assert.equal((await owner('GET', secretsPath('app', 'production', 'DB_PASS'))).status, 200);
    assert.equal((await owner('POST', '/api/v1/tokens', { ...tokenBody, name: 't1' })).status, 201);
  });

  it('after 10 minutes: production values, new tokens, project deletion and key rotation answer 401 reauth_required', async () => {
    clock.advance(5 * MIN);
    assert.equal((await owner('GET', '/api/v1/me')).status, 200, 'keeps the session from idling out');
    clock.advance(5 * MIN + 1);
    assertError(await owner('GET', secretsPath('app', 'production', 'DB_PASS')), 401, 'reauth_required');
    assertError(await owner('GET', secretsPath('app', 'production')), 401, 'reauth_required');
    assertError(await owner('POST', '/api/v1/tokens', { ...tokenBody, name: 't2' }), 401, 'reauth_required');
    assertError(await owner('DELETE', '/api/v1/projects/app'), 401, 'reauth_required');
    assertError(await owner('POST', '/api/v1/admin/rotate-keys'), 401, 'reauth_required');
    // Not sensitive: other environments' values, production keys without values, reading lists.
    assert.equal((await owner('GET', secretsPath('app', 'development', 'DB_PASS'))).status, 200);
    assert.equal((await owner('GET', `${secretsPath('app', 'production')}?values=false`)).status, 200);
    assert.equal((await owner('GET', '/api/v1/tokens')).status, 200);
    // Not through a reference either: a development value pointing into production needs the same.
    await putSecret(owner, 'app', 'development', 'VIA_REF', 'db=${production.DB_PASS}');
    const viaRef = await owner('GET', secretsPath('app', 'development', 'VIA_REF'));
    assertError(viaRef, 401, 'reauth_required');
    assert.ok(!viaRef.text.includes('prod-value-step-up'));
    assertError(await owner('GET', secretsPath('app', 'development')), 401, 'reauth_required');
    assert.equal((await owner('GET', `${secretsPath('app', 'development', 'VIA_REF')}?raw=true`)).status, 200, 'unresolved, nothing of production is read');
    // Binding an authenticator to the account is step-up too (a stolen session must not).
    assertError(await owner('POST', '/api/v1/me/2fa/totp'), 401, 'reauth_required');
    // API tokens never sign in: their scope is their limit.
    assert.equal((await api(srv, readToken)('GET', secretsPath('app', 'production', 'DB_PASS'))).status, 200);
    assert.equal((await api(srv)('GET', '/api/v1/projects/app')).status, 401, 'and no credentials is still 401 unauthenticated');
  });

  it('re-authenticating with the password opens them again for 10 minutes', async () => {
    assertError(await owner('POST', '/api/v1/auth/reauth', { password: 'not-the-password' }), 401, 'invalid_credentials');
    assert.equal((await owner('POST', '/api/v1/auth/reauth', { password: OWNER.password })).status, 204);
    assert.equal((await owner('GET', secretsPath('app', 'production', 'DB_PASS'))).status, 200);
    assert.equal((await owner('POST', '/api/v1/tokens', { ...tokenBody, name: 't3' })).status, 201);
    const audit = await srv.db.selectFrom('audit_events').select('action').where('action', '=', 'session.reauth').execute();
    assert.equal(audit.length, 1);
  });

  it('with 2FA on, re-authentication needs a code too', async () => {
    const enrol = await owner('POST', '/api/v1/me/2fa/totp');
    assert.equal((await owner('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(enrol.body.secret, clock()) })).status, 200);
    clock.advance(11 * MIN);
    assertError(await owner('POST', '/api/v1/auth/reauth', { password: OWNER.password }), 401, 'two_factor_required');
    assert.equal((await owner('POST', '/api/v1/auth/reauth', { password: OWNER.password, totp: oathtool(enrol.body.secret, clock()) })).status, 204);
    assert.equal((await owner('GET', secretsPath('app', 'production', 'DB_PASS'))).status, 200);
  });

  it('API tokens cannot re-authenticate (403); nobody can without credentials (401)', async () => {
    assertError(await api(srv, readToken)('POST', '/api/v1/auth/reauth', { password: OWNER.password }), 403, 'forbidden');
    assertError(await api(srv)('POST', '/api/v1/auth/reauth', { password: OWNER.password }), 401, 'unauthenticated');
  });
});

describe('step-up settings', () => {
  it('KEYNEST_STEP_UP_ENVIRONMENTS=none leaves production values open; KEYNEST_STEP_UP_S sets the window', async () => {
    const clock = manualClock();
    const srv = await startServer({ clock, env: { KEYNEST_STEP_UP_ENVIRONMENTS: 'none', KEYNEST_STEP_UP_S: '60' } });
    try {
      const owner = api(srv, await setupOwner(srv));
      await createProject(owner, 'app');
      await putSecret(owner, 'app', 'production', 'K', 'v');
      clock.advance(61_000);
      assert.equal((await owner('GET', secretsPath('app', 'production', 'K'))).status, 200);
      assertError(await owner('POST', '/api/v1/tokens', { ...tokenBody, name: 'x' }), 401, 'reauth_required');
    } finally {
      await srv.close();
    }
  });
});

describe('password change', () => {
  it('needs the current password, applies the policy, ends the other sessions and keeps this one', async () => {
    const srv = await startServer();
    try {
      const owner = api(srv, await setupOwner(srv));
      const other = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));
      const next = 'Granite-Pelican-Harbor-7731';
      assertError(await owner('POST', '/api/v1/me/password', { currentPassword: 'wrong-current-pw', newPassword: next }), 401, 'invalid_credentials');
      const weak = await owner('POST', '/api/v1/me/password', { currentPassword: OWNER.password, newPassword: 'password1234' });
      assertError(weak, 400, 'weak_password');
      assert.equal(weak.body.error.details.rule, 'too_common');
      // Trying weak passwords with the right current one never locks the account.
      for (let i = 0; i < 6; i++) assertError(await owner('POST', '/api/v1/me/password', { currentPassword: OWNER.password, newPassword: 'short' }), 400, 'weak_password');
      const ok = await owner('POST', '/api/v1/me/password', { currentPassword: OWNER.password, newPassword: next });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body, { otherSessionsEnded: 1 });
      assertError(await other('GET', '/api/v1/me'), 401, 'unauthenticated');
      assert.equal((await owner('GET', '/api/v1/me')).status, 200);
      assertError(await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password }), 401, 'invalid_credentials');
      assert.equal((await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: next })).status, 200);
      const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'password.change').execute();
      assert.equal(audit.length, 1);
      assert.ok(!audit[0]!.details.includes(next) && !srv.logText().includes(next));
    } finally {
      await srv.close();
    }
  });
});
