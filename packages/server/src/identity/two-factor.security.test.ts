import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { allCells } from '../test-support/db.js';
import { createProject, createToken } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { oathtool } from '../test-support/totp.js';


const STEP = 30_000;

describe('two-factor authentication (TOTP and backup codes)', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let secret: string;
  let backupCodes: string[];
  const login = (extra: Record<string, unknown> = {}) => api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, ...extra });

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_SESSION_IDLE_S: String(24 * 3600), KEYNEST_STEP_UP_S: String(24 * 3600), KEYNEST_SESSIONS_PER_USER: '1000', KEYNEST_LOGIN_RATE_IP: '1000/60', KEYNEST_LOGIN_RATE_ACCOUNT_IP: '1000/60' } });
    owner = api(srv, await setupOwner(srv));
  });
  after(() => srv.close());

  it('enrols: secret, otpauth URI and QR codes; nothing changes until a code confirms it', async () => {
    assertError(await owner('POST', '/api/v1/me/2fa/totp/confirm', { code: '123456' }), 409, 'two_factor_not_started');
    const res = await owner('POST', '/api/v1/me/2fa/totp');
    assert.equal(res.status, 200, res.text);
    secret = res.body.secret;
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const uri = new URL(res.body.uri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/KeyNest:owner@example.com');
    assert.equal(uri.searchParams.get('secret'), secret);
    assert.equal(uri.searchParams.get('issuer'), 'KeyNest');
    assert.match(res.body.qr.png, /^data:image\/png;base64,/);
    assert.match(res.body.qr.svg, /^data:image\/svg\+xml/);
    assert.deepEqual((await owner('GET', '/api/v1/me/2fa')).body, { enabled: false, backupCodesRemaining: 0 });
    assert.equal((await login()).status, 200, 'a pending enrolment does not ask for codes yet');

    assertError(await owner('POST', '/api/v1/me/2fa/totp/confirm', { code: '000000' === oathtool(secret, clock()) ? '111111' : '000000' }), 401, 'invalid_two_factor_code');
    const confirmed = await owner('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(secret, clock()) });
    assert.equal(confirmed.status, 200, confirmed.text);
    backupCodes = confirmed.body.backupCodes;
    assert.equal(backupCodes.length, 10);
    assert.equal(new Set(backupCodes).size, 10);
    for (const c of backupCodes) assert.match(c, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    assert.deepEqual((await owner('GET', '/api/v1/me/2fa')).body, { enabled: true, backupCodesRemaining: 10 });
    assertError(await owner('POST', '/api/v1/me/2fa/totp'), 409, 'two_factor_enabled');
  });

  it('stores neither the secret nor the backup codes in readable form, and never logs them', async () => {
    const cells = (await allCells(srv)).map((c) => (Buffer.isBuffer(c.value) ? c.value.toString('latin1') : String(c.value)));
    const raw = Buffer.from(secret, 'utf8').toString('latin1');
    for (const cell of cells) {
      assert.ok(!cell.includes(secret) && !cell.includes(raw), 'the TOTP secret is stored encrypted');
      for (const code of backupCodes) assert.ok(!cell.includes(code) && !cell.includes(code.replace(/-/g, '')), 'backup codes are stored as digests');
    }
    const log = srv.logText();
    assert.ok(!log.includes(secret));
    for (const code of backupCodes) assert.ok(!log.includes(code));
  });

  it('sign-in then needs a code: missing 401 two_factor_required, wrong 401 invalid_two_factor_code, and each code works once', async () => {
    clock.advance(STEP);
    assertError(await login(), 401, 'two_factor_required');
    assertError(await login({ totp: '12345' }), 401, 'invalid_two_factor_code');
    const code = oathtool(secret, clock());
    const ok = await login({ totp: code });
    assert.equal(ok.status, 200, ok.text);
    // The session keeps the 2FA level its sign-in reached.
    const listed = (await api(srv, ok.body.accessToken)('GET', '/api/v1/me/sessions')).body.sessions;
    assert.equal(listed.find((x: { current: boolean }) => x.current).secondFactor, 'totp');
    assertError(await login({ totp: code }), 401, 'invalid_two_factor_code');
    // The previous step's code is older than the one just used: refused too.
    assertError(await login({ totp: oathtool(secret, clock() - STEP) }), 401, 'invalid_two_factor_code');
    clock.advance(STEP);
    assert.equal((await login({ totp: oathtool(secret, clock()) })).status, 200, 'the next step works');
    // One step of clock drift either way is tolerated.
    clock.advance(3 * STEP);
    assert.equal((await login({ totp: oathtool(secret, clock() + STEP) })).status, 200, 'a phone one step ahead');
  });

  it('asking for the code costs nothing: sign-ins without one never lock the account', async () => {
    for (let i = 0; i < 7; i++) assertError(await login(), 401, 'two_factor_required');
    clock.advance(2 * STEP); // the last sign-in used the code one step ahead
    assert.equal((await login({ totp: oathtool(secret, clock()) })).status, 200);
  });

  it('a backup code signs in once (audited), typed in any case and without dashes', async () => {
    const code = backupCodes[0]!;
    const res = await login({ backupCode: code.toLowerCase().replace(/-/g, '') });
    assert.equal(res.status, 200, res.text);
    const listed = (await api(srv, res.body.accessToken)('GET', '/api/v1/me/sessions')).body.sessions;
    assert.equal(listed.find((x: { current: boolean }) => x.current).secondFactor, 'backup_code');
    assertError(await login({ backupCode: code }), 401, 'invalid_two_factor_code');
    assert.equal((await owner('GET', '/api/v1/me/2fa')).body.backupCodesRemaining, 9);
    const used = await srv.db.selectFrom('audit_events').select('action').where('action', '=', '2fa.backup_code_used').execute();
    assert.equal(used.length, 1);
  });

  it('wrong codes count towards the account lock like wrong passwords', async () => {
    // Two steps on: the last sign-in used the code one step ahead of its time.
    clock.advance(2 * STEP);
    assert.equal((await login({ totp: oathtool(secret, clock()) })).status, 200, 'a success starts the count afresh');
    for (let i = 0; i < 5; i++) assertError(await login({ totp: '000000' === oathtool(secret, clock()) ? '111111' : '000000' }), 401, 'invalid_two_factor_code');
    clock.advance(STEP);
    assertError(await login({ totp: oathtool(secret, clock()) }), 423, 'account_locked');
    clock.advance(15 * 60 * 1000);
    assert.equal((await login({ totp: oathtool(secret, clock()) })).status, 200);
  });

  it('new backup codes need the password and a current code; the old ones stop working', async () => {
    clock.advance(STEP);
    assertError(await owner('POST', '/api/v1/me/2fa/backup-codes', { password: 'not-the-password', totp: oathtool(secret, clock()) }), 401, 'invalid_credentials');
    assertError(await owner('POST', '/api/v1/me/2fa/backup-codes', { password: OWNER.password, totp: '000000' === oathtool(secret, clock()) ? '111111' : '000000' }), 401, 'invalid_credentials');
    const res = await owner('POST', '/api/v1/me/2fa/backup-codes', { password: OWNER.password, totp: oathtool(secret, clock()) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.backupCodes.length, 10);
    assertError(await login({ backupCode: backupCodes[1]! }), 401, 'invalid_two_factor_code');
    assert.equal((await login({ backupCode: res.body.backupCodes[0] })).status, 200);
    backupCodes = res.body.backupCodes;
  });

  it('guessing codes at the disable endpoint is throttled and audited like a sign-in', async () => {
    clock.advance(2 * STEP);
    assert.equal((await login({ totp: oathtool(secret, clock()) })).status, 200, 'a success starts the count afresh');
    const earlier = (await srv.db.selectFrom('audit_events').select('id').where('action', '=', '2fa.reauth').execute()).length;
    for (let i = 0; i < 5; i++) {
      assertError(await owner('POST', '/api/v1/me/2fa/disable', { password: OWNER.password, totp: '000000' === oathtool(secret, clock()) ? '111111' : '000000' }), 401, 'invalid_credentials');
    }
    clock.advance(STEP);
    assertError(await owner('POST', '/api/v1/me/2fa/disable', { password: OWNER.password, totp: oathtool(secret, clock()) }), 423, 'account_locked');
    const failures = await srv.db.selectFrom('audit_events').select('action').where('action', '=', '2fa.reauth').where('outcome', '=', 'failure').execute();
    clock.advance(15 * 60_000);
    assert.equal(failures.length - earlier, 5);
  });

  it('API tokens cannot touch 2FA (403)', async () => {
    await createProject(owner, 'tfa');
    const t = await createToken(owner, { project: 'tfa', environment: 'development', access: 'write' });
    assertError(await api(srv, t.token)('GET', '/api/v1/me/2fa'), 403, 'forbidden');
    assertError(await api(srv, t.token)('POST', '/api/v1/me/2fa/totp'), 403, 'forbidden');
  });

  it('turning it off needs the password and a code (a backup code will do); sign-in is then password only', async () => {
    assertError(await owner('POST', '/api/v1/me/2fa/disable', { password: OWNER.password }), 401, 'invalid_credentials');
    assert.equal((await owner('POST', '/api/v1/me/2fa/disable', { password: OWNER.password, backupCode: backupCodes[1]! })).status, 204);
    assert.deepEqual((await owner('GET', '/api/v1/me/2fa')).body, { enabled: false, backupCodesRemaining: 0 });
    assert.equal((await login()).status, 200);
    assertError(await owner('POST', '/api/v1/me/2fa/disable', { password: OWNER.password, totp: '123456' }), 409, 'two_factor_not_enabled');
    const actions = (await srv.db.selectFrom('audit_events').select('action').where('action', 'like', '2fa.%').execute()).map((r) => r.action);
    for (const a of ['2fa.enrol', '2fa.enable', '2fa.backup_code_used', '2fa.backup_codes_regenerated', '2fa.disable']) assert.ok(actions.includes(a), a);
  });
});
