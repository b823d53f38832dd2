import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, request, setupOwner, SignedInSession, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const DAY_S = 24 * 3600;
const PASSWORD = 'Juniper-Comet-Basalt-7719';

/**
 * A token's life after creation: allowed addresses, rotation with a grace period, use counting,
 * the creator's role and membership (user tokens die with it, org tokens do not), and that no
 * token reaches the audit log or the server log.
 */
describe('API token lifecycle', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  const issued: string[] = [];
  const create = async (call: Api, body: Record<string, unknown>) => {
    const res = await call('POST', '/api/v1/tokens', { name: 'life', type: 'read-only', scope: [{ project: 'app', environment: 'development' }], expiresInSeconds: 30 * DAY_S, ...body });
    assert.equal(res.status, 201, res.text);
    issued.push(res.body.token);
    return res.body as { token: string; info: { id: string; useCount: number; lastUsedAt: string | null; lastUsedIp: string | null } };
  };
  const listed = async (id: string) => (await owner('GET', '/api/v1/tokens')).body.tokens.find((t: { id: string }) => t.id === id);
  const from = (token: string, ip: string) => (method: string, p: string) => request(srv, token, method, p, undefined, { headers: { 'x-forwarded-for': ip } });
  const outbox = () => (existsSync(path.join(srv.dataDir, 'outbox.jsonl')) ? readFileSync(path.join(srv.dataDir, 'outbox.jsonl'), 'utf8') : '');
  const join = async (email: string, role: string): Promise<{ id: string; call: Api }> => {
    assert.equal((await owner('POST', '/api/v1/org/invitations', { email, role })).status, 201);
    let invitation = '';
    for (let i = 0; i < 250 && !invitation; i++) {
      const mail = outbox().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { to: string; text: string }).find((m) => m.to === email);
      if (mail) invitation = /kn_inv_[A-Za-z0-9_-]{43}/.exec(mail.text)![0];
      else await new Promise((r) => setTimeout(r, 20));
    }
    const res = await api(srv)('POST', '/api/v1/auth/invitations/accept', { token: invitation, password: PASSWORD });
    assert.equal(res.status, 201, res.text);
    return { id: res.body.user.id, call: api(srv, SignedInSession.of(srv, res)) };
  };

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_TRUST_PROXY: '127.0.0.1', KEYNEST_STEP_UP_S: String(DAY_S), KEYNEST_SESSION_IDLE_S: String(30 * DAY_S) } });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'DEV_KEY', 'dev-value');
  });
  after(() => srv.close());

  it('allowed IP ranges: 403 ip_not_allowed from elsewhere, IPv4 and IPv6', async () => {
    const { token, info } = await create(owner, { allowedIps: ['203.0.113.0/24', '2001:db8::/32'] });
    assert.equal((await from(token, '203.0.113.9')('GET', secretsPath('app', 'development', 'DEV_KEY'))).status, 200);
    assert.equal((await from(token, '2001:db8::5')('GET', secretsPath('app', 'development', 'DEV_KEY'))).status, 200);
    assertError(await from(token, '198.51.100.1')('GET', secretsPath('app', 'development', 'DEV_KEY')), 403, 'ip_not_allowed');
    assertError(await api(srv, token)('GET', '/api/v1/me'), 403, 'ip_not_allowed');
    assert.deepEqual((await listed(info.id)).allowedIps, ['203.0.113.0/24', '2001:db8::/32']);
  });

  it('counts uses and records the last use, writing at most once a minute', async () => {
    const { token, info } = await create(owner, {});
    assert.equal(info.useCount, 0);
    const usedAt = clock();
    for (let i = 0; i < 3; i++) await getValue(from(token, '192.0.2.7') as unknown as Api, 'app', 'development', 'DEV_KEY');
    const first = await listed(info.id);
    assert.equal(first.useCount, 3);
    assert.equal(first.lastUsedAt, new Date(usedAt).toISOString());
    assert.equal(first.lastUsedIp, '192.0.2.7');
    const row = await srv.db.selectFrom('api_tokens').select(['use_count', 'last_used_at']).where('id', '=', info.id).executeTakeFirstOrThrow();
    assert.equal(Number(row.use_count), 1, 'the uses within the minute wait in memory');
    clock.advance(61_000);
    await getValue(api(srv, token), 'app', 'development', 'DEV_KEY');
    const later = await srv.db.selectFrom('api_tokens').select(['use_count', 'last_used_at']).where('id', '=', info.id).executeTakeFirstOrThrow();
    assert.equal(Number(later.use_count), 4);
    assert.equal(Number(later.last_used_at), clock());
    assert.equal((await listed(info.id)).useCount, 4);
  });

  it('rotation: a new token shown once; the old one works until the grace ends, then never; audited', async () => {
    const old = await create(owner, { name: 'rotating' });
    assertError(await owner('POST', '/api/v1/tokens/tok_nope/rotate', { graceSeconds: 60 }), 404, 'token_not_found');
    assertError(await owner('POST', `/api/v1/tokens/${old.info.id}/rotate`, { graceSeconds: -1 }), 400, 'validation_failed');
    const res = await owner('POST', `/api/v1/tokens/${old.info.id}/rotate`, { graceSeconds: 3600 });
    assert.equal(res.status, 201, res.text);
    issued.push(res.body.token);
    assert.notEqual(res.body.token, old.token);
    assert.match(res.body.token, /^kn_api_/);
    assert.equal(res.body.info.name, 'rotating');
    assert.equal(await getValue(api(srv, res.body.token), 'app', 'development', 'DEV_KEY'), 'dev-value');
    const oldListed = await listed(old.info.id);
    assert.equal(oldListed.replacedBy, res.body.info.id);
    assert.equal(oldListed.expiresAt, new Date(clock() + 3_600_000).toISOString());
    assertError(await owner('POST', `/api/v1/tokens/${old.info.id}/rotate`, {}), 409, 'token_not_active');
    clock.advance(3_599_000);
    assert.equal(await getValue(api(srv, old.token), 'app', 'development', 'DEV_KEY'), 'dev-value');
    clock.advance(1000);
    assertError(await api(srv, old.token)('GET', secretsPath('app', 'development', 'DEV_KEY')), 401, 'unauthenticated');
    assert.equal(await getValue(api(srv, res.body.token), 'app', 'development', 'DEV_KEY'), 'dev-value');
    const audit = await srv.db.selectFrom('audit_events').selectAll().where('action', '=', 'token.rotate').where('target_id', '=', old.info.id).execute();
    assert.equal(audit.length, 1);
    assert.equal(JSON.parse(audit[0]!.details).replacedBy, res.body.info.id);
  });

  it("a user token dies when its creator leaves; an org (service) token survives; a demoted creator's tokens lose what the new role lacks", async () => {
    const admin = await join('token-admin@example.org', 'admin');
    const userToken = (await create(admin.call, { name: 'user-owned' })).token;
    const service = await create(admin.call, { name: 'service', owner: 'org' });
    assert.equal(await getValue(api(srv, userToken), 'app', 'development', 'DEV_KEY'), 'dev-value');
    // Demoted to viewer: keys yes, values no, for both tokens.
    assert.equal((await owner('PATCH', `/api/v1/org/members/${admin.id}`, { role: 'viewer' })).status, 200);
    assert.equal((await api(srv, userToken)('GET', `${secretsPath('app', 'development')}?values=false`)).status, 200);
    assertError(await api(srv, userToken)('GET', secretsPath('app', 'development', 'DEV_KEY')), 403, 'forbidden');
    assert.equal((await owner('PATCH', `/api/v1/org/members/${admin.id}`, { role: 'admin' })).status, 200);
    assert.equal(await getValue(api(srv, service.token), 'app', 'development', 'DEV_KEY'), 'dev-value');

    const removed = await owner('DELETE', `/api/v1/org/members/${admin.id}`);
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.revokedTokens, 1);
    assertError(await api(srv, userToken)('GET', secretsPath('app', 'development', 'DEV_KEY')), 401, 'unauthenticated');
    assert.equal(await getValue(api(srv, service.token), 'app', 'development', 'DEV_KEY'), 'dev-value');
    assert.equal((await listed(service.info.id)).owner, 'org');
  });

  it('a user token whose creator is gone authenticates nothing even if it escaped revocation', async () => {
    const admin = await join('escaped@example.org', 'admin');
    const { token, info } = await create(admin.call, {});
    assert.equal(await getValue(api(srv, token), 'app', 'development', 'DEV_KEY'), 'dev-value');
    // The membership vanishes without the removal route (by hand, or a bug elsewhere).
    await srv.db.deleteFrom('memberships').where('user_id', '=', admin.id).execute();
    clock.advance(10 * 60_000);
    assertError(await api(srv, token)('GET', secretsPath('app', 'development', 'DEV_KEY')), 401, 'unauthenticated');
    assert.equal((await listed(info.id)).revokedAt, null);
  });

  it('only members who manage the org create service tokens', async () => {
    const dev = await join('token-dev@example.org', 'developer');
    assertError(await dev.call('POST', '/api/v1/tokens', { name: 'x', type: 'read-only', scope: [{ project: 'app' }], expiresInSeconds: 3600, owner: 'org' }), 403, 'forbidden');
  });

  it('no token value in the audit log or the server log', async () => {
    assert.ok(issued.length >= 5);
    const audit = JSON.stringify(await srv.db.selectFrom('audit_events').selectAll().execute());
    const logs = srv.logText();
    for (const token of issued) {
      const body = token.slice('kn_api_'.length + 5);
      assert.ok(!audit.includes(body), 'token in the audit log');
      assert.ok(!logs.includes(body), 'token in the server log');
    }
    assert.ok(audit.includes('token.create') && audit.includes('token.rotate'));
  });
});
