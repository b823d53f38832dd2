import { Algorithm, hash as argon2Hash } from '@node-rs/argon2';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, request, setupOwner, type SignedInSession } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('first setup', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('is announced and guarded by a 0600 setup-token file that holds the token', async () => {
    const file = path.join(srv.dataDir, 'setup-token');
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), srv.setupToken);
    assert.match(srv.setupToken, /^kn_setup_/);
    const res = await api(srv)('GET', '/api/v1/setup');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { setupRequired: true });
  });

  it('refuses a wrong setup token (and a token of another kind) with 401 invalid_setup_token', async () => {
    for (const setupToken of ['kn_setup_wrong', `kn_setup_${'A'.repeat(43)}`, srv.setupToken.slice(0, -1), `${srv.setupToken}x`]) {
      const res = await api(srv)('POST', '/api/v1/setup', { ...OWNER, setupToken });
      assertError(res, 401, 'invalid_setup_token');
    }
    // Nothing was created by the refused attempts.
    assert.equal((await srv.db.selectFrom('users').selectAll().execute()).length, 0);
    assert.equal((await srv.db.selectFrom('orgs').selectAll().execute()).length, 0);
  });

  it('validates the body before anything (bad email, unknown field, blank org)', async () => {
    const call = api(srv);
    assertError(await call('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, password: 'x'.repeat(257) }), 400, 'validation_failed');
    assertError(await call('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, email: 'not-an-email' }), 400, 'validation_failed');
    assertError(await call('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, role: 'owner' }), 400, 'validation_failed');
    assertError(await call('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, orgName: '   ' }), 400, 'validation_failed');
  });

  it('refuses a weak owner password, saying which rule failed and never echoing it; nothing is created', async () => {
    const call = api(srv);
    const cases: [string, string][] = [
      ['Sh0rt-pw!', 'too_short'],
      ['password1234', 'too_common'],
      ['owner@example.com-2041', 'contains_personal_info'],
      ['Acme-rocks-Acme-rocks', 'contains_personal_info'],
      ['aaaaaaaaaaaaaaaa', 'too_weak'],
    ];
    for (const [password, rule] of cases) {
      const res = await call('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, password });
      assertError(res, 400, 'weak_password');
      assert.equal(res.body.error.details.rule, rule, `${password}: ${res.text}`);
      assert.ok(!res.text.includes(password), 'the answer never holds the password');
    }
    assert.equal((await srv.db.selectFrom('users').selectAll().execute()).length, 0);
    assert.ok(!srv.logText().includes('password1234'));
  });

  it('succeeds once with the token, then the token file is gone and setup is no longer required', async () => {
    const res = await api(srv)('POST', '/api/v1/setup', { setupToken: srv.setupToken, email: 'Owner@Example.COM', password: OWNER.password, orgName: 'Acme' });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['accessToken', 'accessTokenExpiresAt', 'org', 'refreshToken', 'session', 'tokenType', 'user']);
    assert.equal(res.body.user.email, 'owner@example.com', 'email is stored lower-cased');
    assert.equal(res.body.org.name, 'Acme');
    assert.match(res.body.accessToken, /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.match(res.body.refreshToken, /^kn_ref_[A-Za-z0-9_-]{43}$/);
    assert.equal(res.body.tokenType, 'Bearer');
    assert.ok(!Number.isNaN(Date.parse(res.body.session.expiresAt)));
    assert.equal(existsSync(path.join(srv.dataDir, 'setup-token')), false);
    assert.deepEqual((await api(srv)('GET', '/api/v1/setup')).body, { setupRequired: false });
    const me = await api(srv, res.body.accessToken)('GET', '/api/v1/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.principal.type, 'user');
    assert.equal(me.body.principal.user.email, 'owner@example.com');
  });

  it('cannot be done twice: the used token no longer sets up anything (409 already_set_up), nor does any other', async () => {
    // The used token's digest is deleted in the setup transaction; the once-only latch answers first.
    const again = await api(srv)('POST', '/api/v1/setup', { ...OWNER, email: 'attacker@example.com', setupToken: srv.setupToken });
    assertError(again, 409, 'already_set_up');
    assertError(await api(srv)('POST', '/api/v1/setup', { ...OWNER, email: 'attacker@example.com', setupToken: 'kn_setup_guess' }), 409, 'already_set_up');
    const users = await srv.db.selectFrom('users').select('email').execute();
    assert.deepEqual(users, [{ email: 'owner@example.com' }]);
    const digest = await srv.db.selectFrom('instance_settings').selectAll().where('name', '=', 'setup_token_digest').execute();
    assert.deepEqual(digest, [], 'the setup token digest is gone once used');
  });

  it('stores the password only as an argon2id hash (OWASP parameters) and never the password', async () => {
    const row = await srv.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!JSON.stringify(row).includes(OWNER.password));
  });
});

describe('sign-in and sessions', () => {
  let srv: TestServer;
  let ownerSession: SignedInSession;
  before(async () => {
    srv = await startServer();
    ownerSession = await setupOwner(srv);
  });
  after(() => srv.close());

  it('logs in with the right password and the email in any case', async () => {
    for (const email of [OWNER.email, 'OWNER@EXAMPLE.COM', '  Owner@example.com ']) {
      const res = await api(srv)('POST', '/api/v1/auth/login', { email, password: OWNER.password });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.user.email, OWNER.email);
      assert.equal(res.body.org.name, OWNER.orgName);
      assert.match(res.body.accessToken, /^eyJ/);
      assert.notEqual(res.body.accessToken, ownerSession.accessToken);
      assert.equal((await api(srv, res.body.accessToken)('GET', '/api/v1/me')).status, 200);
    }
  });

  it('answers a wrong password and an unknown email alike: 401 invalid_credentials, same body shape and message', async () => {
    const wrongPassword = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: 'not-the-password' });
    const unknownEmail = await api(srv)('POST', '/api/v1/auth/login', { email: 'nobody@example.com', password: OWNER.password });
    assertError(wrongPassword, 401, 'invalid_credentials');
    assertError(unknownEmail, 401, 'invalid_credentials');
    const shape = (b: { error: object; requestId: string }) => ({ ...b, requestId: typeof b.requestId });
    assert.deepEqual(shape(wrongPassword.body), shape(unknownEmail.body));
    assert.notEqual(wrongPassword.body.requestId, unknownEmail.body.requestId);
    // A password the setup policy would refuse is still just "invalid credentials", not a schema hint.
    assertError(await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: 'x' }), 401, 'invalid_credentials');
    // Same headers that matter, too: no extra header reveals which case it was.
    assert.equal(wrongPassword.headers.get('content-type'), unknownEmail.headers.get('content-type'));
  });

  it('stores a session only with the SHA-256 hex digest of its refresh token, and never the access token', async () => {
    const res = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    const token: string = res.body.refreshToken;
    const access: string = res.body.accessToken;
    const rows = await srv.db.selectFrom('sessions').selectAll().execute();
    const row = rows.find((r) => r.token_digest === sha256(token));
    assert.ok(row, 'a session row keyed by the digest');
    assert.match(row.token_digest, /^[0-9a-f]{64}$/);
    for (const r of rows) {
      const text = JSON.stringify(r);
      assert.ok(!text.includes(token), 'raw token stored in sessions');
      assert.ok(!text.includes(token.slice('kn_ref_'.length)), 'token body stored in sessions');
      assert.ok(!text.includes(access.split('.')[2]!), 'access token stored in sessions');
    }
  });

  it('logout revokes the session at once; other sessions keep working', async () => {
    const login = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    const token: string = login.body.accessToken;
    const call = api(srv, token);
    assert.equal((await call('GET', '/api/v1/projects')).status, 200);
    const out = await call('POST', '/api/v1/auth/logout');
    assert.equal(out.status, 204);
    assert.equal(out.text, '');
    assertError(await call('GET', '/api/v1/projects'), 401, 'unauthenticated');
    assertError(await call('GET', '/api/v1/me'), 401, 'unauthenticated');
    assertError(await call('POST', '/api/v1/auth/logout'), 401, 'unauthenticated');
    assert.equal((await api(srv, ownerSession)('GET', '/api/v1/me')).status, 200);
    const row = await srv.db.selectFrom('sessions').select('revoked_at').where('id', '=', login.body.session.id).executeTakeFirstOrThrow();
    assert.notEqual(row.revoked_at, null);
  });

  it('refuses malformed Authorization headers with 401 unauthenticated', async () => {
    const t = ownerSession.accessToken;
    for (const authorization of [t, `Basic ${t}`, `Bearer  ${t}`, `Bearer ${t} extra`, 'Bearer', `Bearer ${t.toUpperCase()}`, `Bearer ${ownerSession.refreshToken}`]) {
      const res = await request(srv, null, 'GET', '/api/v1/me', undefined, { headers: { authorization } });
      assertError(res, 401, 'unauthenticated');
    }
  });
});

describe('session expiry (injected clock)', () => {
  const clock = manualClock();
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_SESSION_TTL_S: '600' } });
  });
  after(() => srv.close());

  it('a session works until its absolute lifetime and then answers 401 unauthenticated', async () => {
    const setup = await api(srv)('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken });
    assert.equal(setup.status, 201);
    assert.equal(setup.body.session.expiresAt, new Date(clock() + 600_000).toISOString());
    const call = api(srv, setup.body.accessToken);
    clock.advance(599_999);
    assert.equal((await call('GET', '/api/v1/me')).status, 200);
    clock.advance(1);
    assertError(await call('GET', '/api/v1/me'), 401, 'unauthenticated');
    // Activity does not extend the absolute lifetime, and a later login gets a fresh session.
    const login = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    assert.equal(login.status, 200);
    assert.equal(login.body.session.expiresAt, new Date(clock() + 600_000).toISOString());
    assert.equal((await api(srv, login.body.accessToken)('GET', '/api/v1/me')).status, 200);
    assertError(await call('GET', '/api/v1/me'), 401, 'unauthenticated');
  });
});

describe('setup race', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('two simultaneous setups with the right token: exactly one org and one owner are created', async () => {
    const attempts = await Promise.all(
      ['first@example.com', 'second@example.com', 'third@example.com'].map((email) => api(srv)('POST', '/api/v1/setup', { ...OWNER, email, setupToken: srv.setupToken })),
    );
    const ok = attempts.filter((r) => r.status === 201);
    assert.equal(ok.length, 1, attempts.map((r) => r.text).join('\n'));
    for (const r of attempts.filter((x) => x.status !== 201)) {
      assert.ok(r.status === 409 || r.status === 401, r.text);
      assert.ok(['already_set_up', 'invalid_setup_token'].includes(r.body.error.code));
    }
    assert.equal((await srv.db.selectFrom('users').select('id').execute()).length, 1);
    assert.equal((await srv.db.selectFrom('orgs').select('id').execute()).length, 1);
    assert.equal((await srv.db.selectFrom('data_keys').select('org_id').execute()).length, 1);
  });
});

describe('password policy set by the deployment', () => {
  it('KEYNEST_PASSWORD_MIN_LENGTH and KEYNEST_PASSWORD_REQUIRE_CLASSES apply to the owner password', async () => {
    const srv = await startServer({ env: { KEYNEST_PASSWORD_MIN_LENGTH: '30', KEYNEST_PASSWORD_REQUIRE_CLASSES: '4' } });
    try {
      const short = await api(srv)('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken });
      assertError(short, 400, 'weak_password');
      assert.deepEqual(short.body.error.details, { rule: 'too_short', minLength: 30 });
      const classes = await api(srv)('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, password: 'marble tiger vault orchard lantern 2041' });
      assertError(classes, 400, 'weak_password');
      assert.equal(classes.body.error.details.rule, 'missing_classes');
      assert.equal((await api(srv)('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken, password: 'Marble tiger vault orchard lantern 2041!' })).status, 201);
    } finally {
      await srv.close();
    }
  });
});

describe('sign-in to one of several organizations', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
    await setupOwner(srv);
    // A second organization the owner also belongs to (as issue 4's members will make common).
    const user = await srv.db.selectFrom('users').select('id').executeTakeFirstOrThrow();
    await srv.db.transaction().execute(async (trx) => {
      const globex = await srv.keynest.services.orgs.createOrg(trx, 'Globex', Date.now());
      await trx.insertInto('memberships').values({ org_id: globex.id, user_id: user.id, role: 'viewer', created_at: Date.now() + 1 }).execute();
    });
  });
  after(() => srv.close());

  const login = (extra: Record<string, unknown>) => api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, ...extra });

  it('signs in to the first joined by default, and to another by name or id, with the role held there', async () => {
    const first = await login({});
    assert.equal(first.body.org.name, OWNER.orgName);
    assert.equal((await api(srv, first.body.accessToken)('GET', '/api/v1/me')).body.principal.role, 'owner');
    const globex = await login({ org: 'Globex' });
    assert.equal(globex.status, 200, globex.text);
    assert.equal(globex.body.org.name, 'Globex');
    const me = (await api(srv, globex.body.accessToken)('GET', '/api/v1/me')).body.principal;
    assert.equal(me.role, 'viewer');
    assert.equal(me.org.name, 'Globex');
    assert.equal((await login({ org: globex.body.org.id })).body.org.name, 'Globex');
  });

  it('an org the account is not in: 403 not_a_member, only after the right password (a wrong one is just invalid_credentials)', async () => {
    assertError(await login({ org: 'Initech' }), 403, 'not_a_member');
    assertError(await login({ org: 'Initech', password: 'wrong-password-1' }), 401, 'invalid_credentials');
    assertError(await api(srv)('POST', '/api/v1/auth/login', { email: 'nobody@example.com', password: OWNER.password, org: 'Globex' }), 401, 'invalid_credentials');
    // Not counted as failures: the account is not locked by it.
    for (let i = 0; i < 6; i++) assertError(await login({ org: 'Initech' }), 403, 'not_a_member');
    assert.equal((await login({})).status, 200);
  });
});

describe('password hashes are upgraded at sign-in when the parameters change', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
    await setupOwner(srv);
  });
  after(() => srv.close());

  it('a hash made with weaker argon2 parameters (or argon2i) is replaced by one of today’s at the next sign-in, and audited', async () => {
    for (const [label, options] of [
      ['weaker argon2id', { algorithm: Algorithm.Argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 }],
      ['argon2i', { algorithm: Algorithm.Argon2i, memoryCost: 19_456, timeCost: 2, parallelism: 1 }],
    ] as const) {
      const old = await argon2Hash(OWNER.password, options);
      await srv.db.updateTable('users').set({ password_hash: old }).where('email', '=', OWNER.email).execute();
      // The weaker hash still verifies: the owner signs in as before.
      const res = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
      assert.equal(res.status, 200, `${label}: ${res.text}`);
      const row = await srv.db.selectFrom('users').select('password_hash').where('email', '=', OWNER.email).executeTakeFirstOrThrow();
      assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, label);
      assert.notEqual(row.password_hash, old);
      const audit = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'session.create').orderBy('id', 'desc').executeTakeFirstOrThrow();
      assert.equal(JSON.parse(audit.details).rehashed, true, label);
      // And only once: the next sign-in finds today's parameters and leaves the hash alone.
      assert.equal((await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password })).status, 200);
      const again = await srv.db.selectFrom('users').select('password_hash').where('email', '=', OWNER.email).executeTakeFirstOrThrow();
      assert.equal(again.password_hash, row.password_hash);
    }
  });
});
