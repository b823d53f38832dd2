import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { addMember, createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';

describe('security events in the audit log', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let orgId: string;
  const rows = (action: string) => srv.db.selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('id').execute();

  before(async () => {
    srv = await startServer({ clock });
    owner = api(srv, await setupOwner(srv));
    orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'production', 'API_KEY', 'denied-value-1');
  });
  after(() => srv.close());

  it('a refused request (403) is recorded as access.denied, with who, what and where — never a value', async () => {
    await addMember(srv.db, { orgId, role: 'viewer', email: 'viewer@example.com', password: 'Quartz-Lantern-Meadow-5512', now: clock() });
    const viewer = api(srv, await signIn(srv, { email: 'viewer@example.com', password: 'Quartz-Lantern-Meadow-5512' }));
    assertError(await viewer('GET', secretsPath('app', 'production', 'API_KEY')), 403, 'forbidden');
    const token = await createToken(owner, { name: 'reader', project: 'app', environment: 'production', access: 'read' });
    assertError(await api(srv, token.token)('PUT', secretsPath('app', 'production', 'API_KEY'), { value: 'denied-value-2' }), 403, 'forbidden');
    assertError(await api(srv, token.token)('GET', '/api/v1/audit'), 403, 'forbidden');
    const denied = await rows('access.denied');
    assert.deepEqual(
      denied.map((r) => [r.actor_type, r.actor_name, r.target_name, r.project, r.environment, JSON.parse(r.details), r.outcome]),
      [
        ['user', 'viewer@example.com', 'GET /api/v1/projects/:project/environments/:env/secrets/:key', 'app', 'production', { reason: 'missing_permission', permission: 'secret:read_values' }, 'failure'],
        ['token', 'reader', 'PUT /api/v1/projects/:project/environments/:env/secrets/:key', 'app', 'production', { reason: 'missing_permission', permission: 'secret:write' }, 'failure'],
        ['token', 'reader', 'GET /api/v1/audit', null, null, { reason: 'session_only' }, 'failure'],
      ],
    );
    assert.ok(!JSON.stringify(denied).includes('denied-value'), 'a value in the audit log');
    // And an auditor finds them.
    const found = (await owner('GET', '/api/v1/audit?action=access.denied&outcome=failure')).body.events;
    assert.equal(found.length, 3);
  });

  it("a token's first use each day is recorded once (token.use), not every request", async () => {
    const token = await createToken(owner, { name: 'daily', project: 'app', environment: 'production', access: 'read' });
    const bot = api(srv, token.token);
    const uses = async () => (await rows('token.use')).filter((r) => r.actor_id === token.info.id);
    for (let i = 0; i < 3; i++) assert.equal((await bot('GET', secretsPath('app', 'production', 'API_KEY'))).status, 200);
    assert.equal((await uses()).length, 1);
    clock.advance(2 * 3600 * 1000);
    assert.equal((await bot('GET', secretsPath('app', 'production', 'API_KEY'))).status, 200);
    assert.equal((await uses()).length, 1, 'later the same day: no new record');
    clock.advance(24 * 3600 * 1000);
    assert.equal((await bot('GET', secretsPath('app', 'production', 'API_KEY'))).status, 200);
    const all = await uses();
    assert.equal(all.length, 2, 'the next day: one more');
    assert.deepEqual([all[1]!.actor_name, all[1]!.target_id, all[1]!.ip, all[1]!.org_id], ['daily', token.info.id, '127.0.0.1', orgId]);
    assert.ok(all[1]!.request_id, 'tied to the request that used it');
  });
  it('what was typed as a sign-in name is kept only as a keyed digest, which an auditor can look up', async () => {
    const typedPassword = 'Tr0ub4dor-typed-in-the-email-field';
    assertError(await api(srv)('POST', '/api/v1/auth/login', { email: ' Owner@Example.COM ', password: 'not-the-password' }), 401, 'invalid_credentials');
    assertError(await api(srv)('POST', '/api/v1/auth/login', { email: typedPassword, password: 'whatever-1' }), 401, 'invalid_credentials');
    const failures = (await rows('session.create')).filter((r) => r.outcome === 'failure');
    const [known, unknown] = failures.slice(-2).map((r) => JSON.parse(r.details) as { login: string });
    assert.match(known!.login, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.match(unknown!.login, /^hmac-sha256:[0-9a-f]{64}$/);
    const everything = JSON.stringify(await srv.db.selectFrom('audit_events').selectAll().execute());
    assert.ok(!everything.includes(typedPassword) && !everything.toLowerCase().includes(typedPassword.toLowerCase()), 'the typed text in the audit log');
    // Keyed: not a plain digest anyone could compute from a guess.
    assert.notEqual(unknown!.login, `hmac-sha256:${createHash('sha256').update(typedPassword.toLowerCase()).digest('hex')}`);

    // Signed in afresh: the tests before moved the clock past the first session's tokens.
    const auditor = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));
    const hash = async (body: Record<string, unknown>) => {
      const res = await auditor('POST', '/api/v1/audit/hash', body);
      assert.equal(res.status, 200, res.text);
      return res.body.hash as string;
    };
    assert.equal(await hash({ value: 'OWNER@example.com ', as: 'login' }), known!.login, 'normalised as sign-in does');
    assert.equal(await hash({ value: typedPassword, as: 'login' }), unknown!.login);
    assert.notEqual(await hash({ value: 'OWNER@example.com ' }), known!.login, 'a raw value is not normalised');
    assertError(await auditor('POST', '/api/v1/audit/hash', { value: '' }), 400, 'validation_failed');

    const found = (await auditor('GET', `/api/v1/audit?login=${encodeURIComponent('owner@EXAMPLE.com')}`)).body.events as { action: string; outcome: string }[];
    assert.deepEqual(found.map((e) => [e.action, e.outcome]), [['session.create', 'failure']], 'only the failure where it was typed');
    assert.deepEqual((await auditor('GET', '/api/v1/audit?login=nobody%40example.com')).body.events, []);
  });
});
