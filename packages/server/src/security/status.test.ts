import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { addMember, createProject, createToken } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { enrolTotp, oathtool } from '../test-support/totp.js';

const DAY = 24 * 3600 * 1000;
const PASSWORD = 'Status-Quartz-Falcon-7314';
const STATUS = '/api/v1/security/status';

describe('GET /api/v1/security/status: the org at a glance', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let totpSeed: string;
  const secrets: string[] = [];
  const ids: Record<string, string> = {};

  const loginFrom = (ip: string, email: string, password: string) => api(srv)('POST', '/api/v1/auth/login', { email, password }, { headers: { 'x-forwarded-for': ip } });
  const ownerAgain = async () => {
    owner = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password, totp: oathtool(totpSeed, clock()) }));
  };

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_TRUST_PROXY: '127.0.0.1', KEYNEST_LOGIN_RATE_IP: '6/60' } });
    owner = api(srv, await setupOwner(srv));
    const org = (await owner('GET', '/api/v1/me')).body.principal.org as { id: string };
    ids.org = org.id;
    ids.admin = await addMember(srv.db, { orgId: org.id, role: 'admin', email: 'admin@acme.test', password: PASSWORD, now: clock() });
    ids.dev = await addMember(srv.db, { orgId: org.id, role: 'developer', email: 'dev@acme.test', password: PASSWORD, now: clock() });
    // A custom role holding audit:read runs the org as much as an admin does, for 2FA's sake.
    const auditors = await owner('POST', '/api/v1/roles', { name: 'Auditors', template: 'auditor' });
    assert.equal(auditors.status, 201, auditors.text);
    ids.auditor = await addMember(srv.db, { orgId: org.id, role: 'viewer', email: 'auditor@acme.test', password: PASSWORD, now: clock() });
    assert.equal((await owner('PATCH', `/api/v1/org/members/${ids.auditor}`, { roleId: auditors.body.role.id })).status, 200);
    totpSeed = await enrolTotp(owner, clock());
    await createProject(owner, 'app');
  });
  after(() => srv.close());

  it('counts failed sign-ins by address, locks and refusals; 2FA adoption and the admins without it', async () => {
    for (let i = 0; i < 3; i++) assertError(await loginFrom('203.0.113.7', 'admin@acme.test', `wrong-${i}`), 401, 'invalid_credentials');
    assertError(await loginFrom('198.51.100.4', 'admin@acme.test', 'wrong'), 401, 'invalid_credentials');
    for (let i = 0; i < 5; i++) assertError(await loginFrom('203.0.113.8', 'dev@acme.test', `guess-${i}`), 401, 'invalid_credentials');
    assertError(await loginFrom('203.0.113.8', 'dev@acme.test', PASSWORD), 423, 'account_locked');
    // Guesses at accounts that do not exist belong to no org: they are no org's business.
    for (let i = 0; i < 6; i++) assertError(await loginFrom('192.0.2.50', `nobody${i}@acme.test`, 'x'), 401, 'invalid_credentials');
    assertError(await loginFrom('192.0.2.50', 'nobody9@acme.test', 'x'), 429, 'rate_limited');
    const adminSession = await signIn(srv, { email: 'admin@acme.test', password: PASSWORD });

    const res = await owner('GET', STATUS);
    assert.equal(res.status, 200, res.text);
    const s = res.body;
    assert.equal(s.generatedAt, new Date(clock()).toISOString());
    assert.deepEqual(s.window, { from: new Date(clock() - DAY).toISOString(), to: new Date(clock()).toISOString() });
    assert.equal(s.failedSignIns.total, 9);
    assert.deepEqual(
      s.failedSignIns.byIp.map((r: { ip: string; attempts: number; accounts: number }) => [r.ip, r.attempts, r.accounts]),
      [['203.0.113.8', 5, 1], ['203.0.113.7', 3, 1], ['198.51.100.4', 1, 1]],
    );
    assert.ok(!res.text.includes('192.0.2.50'), 'unknown accounts are in no org');
    assert.equal(s.lockouts.total, 1);
    assert.deepEqual(s.lockouts.recent.map((l: { userId: string; email: string; ip: string }) => [l.userId, l.email, l.ip]), [[ids.dev, 'dev@acme.test', '203.0.113.8']]);
    assert.equal(s.rateLimits.scope, 'instance');
    assert.deepEqual(s.rateLimits.byLimit, { 'sign-in/ip': 1, 'sign-in/locked': 1 });
    assert.equal(s.rateLimits.refused, 2);
    assert.deepEqual({ ...s.twoFactor, adminsWithout: undefined }, { members: 4, enabled: 1, rate: 0.25, required: 'off', adminsWithout: undefined });
    assert.deepEqual(
      s.twoFactor.adminsWithout.map((m: { email: string; role: string; customRole: { name: string } | null }) => [m.email, m.role, m.customRole?.name ?? null]),
      [['admin@acme.test', 'admin', null], ['auditor@acme.test', 'custom', 'Auditors']],
      'owners and admins and custom roles that run the org; never the developer',
    );
    assert.equal(s.activeSessions, 2);
    assert.equal((await api(srv, adminSession)('POST', '/api/v1/auth/logout')).status, 204);
    assert.equal((await owner('GET', STATUS)).body.activeSessions, 1);
  });

  it('lists stale API tokens by name and creator (never the token): expiring, never used, unused for 90 days', async () => {
    const soon = await createToken(owner, { name: 'soon', project: 'app', environment: 'development', access: 'read', expiresInSeconds: 3 * 86_400 });
    const idle = await createToken(owner, { name: 'idle', project: 'app', environment: 'development', access: 'read', expiresInSeconds: 300 * 86_400 });
    const used = await createToken(owner, { name: 'used', project: 'app', environment: 'development', access: 'read', expiresInSeconds: 300 * 86_400 });
    secrets.push(soon.token, idle.token, used.token);
    assert.equal((await api(srv, used.token)('GET', '/api/v1/projects/app')).status, 200);
    const stale = async () => {
      const res = await owner('GET', STATUS);
      assert.equal(res.status, 200, res.text);
      for (const t of secrets) assert.ok(!res.text.includes(t) && !res.text.includes(t.slice(-20)), 'no token, nor a piece of one');
      return res.body.staleTokens as { name: string; reasons: string[]; createdBy: { email: string }; lastUsedAt: string | null }[];
    };
    assert.deepEqual((await stale()).map((t) => [t.name, t.reasons]), [['soon', ['expires_7d']]]);
    assert.equal((await stale())[0]!.createdBy.email, OWNER.email);

    clock.advance(31 * DAY);
    await ownerAgain();
    const month = await owner('GET', STATUS);
    assert.deepEqual(month.body.staleTokens.map((t: { name: string; reasons: string[] }) => [t.name, t.reasons]), [['idle', ['never_used']]], 'the expired one is gone');
    assert.equal(month.body.failedSignIns.total, 0, 'only the last 24 hours');
    assert.equal(month.body.lockouts.total, 0);

    clock.advance(60 * DAY);
    await ownerAgain();
    // Made in the same millisecond: listed by creation, then by (random) id.
    const quarter = (await stale()).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(quarter.map((t) => [t.name, t.reasons]), [['idle', ['never_used']], ['used', ['unused_90d']]]);
    assert.ok(quarter[1]!.lastUsedAt);
  });

  it('shows another org only its own rows; needs audit:read from a signed-in session', async () => {
    const other = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', clock()));
    await addMember(srv.db, { orgId: other.id, role: 'owner', email: 'boss@globex.test', password: PASSWORD, now: clock() });
    assertError(await loginFrom('203.0.113.99', 'boss@globex.test', 'wrong'), 401, 'invalid_credentials');
    const boss = api(srv, await signIn(srv, { email: 'boss@globex.test', password: PASSWORD }));
    const theirs = (await boss('GET', STATUS)).body;
    assert.equal(theirs.failedSignIns.total, 1);
    assert.deepEqual(theirs.failedSignIns.byIp.map((r: { ip: string }) => r.ip), ['203.0.113.99']);
    assert.deepEqual([theirs.twoFactor.members, theirs.twoFactor.enabled, theirs.staleTokens.length, theirs.activeSessions], [1, 0, 0, 1]);
    assert.deepEqual(theirs.twoFactor.adminsWithout.map((m: { email: string }) => m.email), ['boss@globex.test']);
    const ours = await owner('GET', STATUS);
    assert.ok(!ours.text.includes('globex') && !ours.text.includes('203.0.113.99'));

    const dev = api(srv, await signIn(srv, { email: 'admin@acme.test', password: PASSWORD }));
    assert.equal((await dev('GET', STATUS)).status, 200, 'an admin reads it');
    assert.equal((await owner('PATCH', `/api/v1/org/members/${ids.admin}`, { role: 'developer' })).status, 200);
    const developer = api(srv, await signIn(srv, { email: 'admin@acme.test', password: PASSWORD }));
    assertError(await developer('GET', STATUS), 403, 'forbidden');
    const token = await owner('POST', '/api/v1/tokens', { name: 'probe', type: 'admin', scope: [{ project: 'app' }], expiresInSeconds: 3600 });
    assertError(await api(srv, token.body.token)('GET', STATUS), 403, 'forbidden');
    assertError(await owner('GET', `${STATUS}?hours=48`), 400, 'validation_failed');
  });
});
