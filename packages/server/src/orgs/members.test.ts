import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, request, setupOwner, SignedInSession, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const PASSWORD = 'Juniper-Comet-Basalt-7719';
const MEMBERS = '/api/v1/org/members';
const STEP_UP_MS = 10 * 60_000;

interface Member {
  id: string;
  email: string;
  session: SignedInSession;
  call: Api;
}

/**
 * Member management over HTTP: listing, role changes with their refusals and audit, removal with
 * the revocation of everything the member held in the org, and tenant isolation of member ids.
 * Members join by invitation; the mailed tokens are read from the outbox file.
 */
describe('members: list, change role, remove', () => {
  const clock = manualClock();
  let srv: TestServer;
  let ownerSession: SignedInSession;
  let owner: Api;
  let ownerId: string;
  const setupAt = clock();
  const outbox = () => (existsSync(path.join(srv.dataDir, 'outbox.jsonl')) ? readFileSync(path.join(srv.dataDir, 'outbox.jsonl'), 'utf8') : '');
  const invitationTokenFor = async (email: string) => {
    for (let i = 0; i < 250; i++) {
      const lines = outbox().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { to: string; text: string });
      const found = lines.reverse().find((m) => m.to === email && m.text.includes('kn_inv_'));
      if (found) return /kn_inv_[A-Za-z0-9_-]{43}/.exec(found.text)![0];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no invitation mailed to ${email}`);
  };
  const join = async (email: string, role: string): Promise<Member> => {
    // Members are listed in the order they joined.
    clock.advance(1000);
    assert.equal((await owner('POST', '/api/v1/org/invitations', { email, role })).status, 201);
    const res = await api(srv)('POST', '/api/v1/auth/invitations/accept', { token: await invitationTokenFor(email), password: PASSWORD });
    assert.equal(res.status, 201, res.text);
    const session = SignedInSession.of(srv, res);
    return { id: res.body.user.id, email, session, call: api(srv, session) };
  };
  const roleOf = async (call: Api) => (await call('GET', '/api/v1/me')).body.principal.role as string;
  const auditOf = (action: string, target: string) =>
    srv.db.selectFrom('audit_events').select(['actor_id', 'target_id', 'details', 'org_id']).where('action', '=', action).where('target_id', '=', target).orderBy('id').execute();

  before(async () => {
    srv = await startServer({ clock });
    ownerSession = await setupOwner(srv);
    owner = api(srv, ownerSession);
    ownerId = (await owner('GET', '/api/v1/me')).body.principal.user.id;
    await createProject(owner, 'app');
    await createProject(owner, 'web');
    await putSecret(owner, 'app', 'development', 'API_KEY', 'dev-api-key');
    await putSecret(owner, 'app', 'production', 'DB_PASS', 'prod-db-pass');
    await putSecret(owner, 'web', 'development', 'SESSION_SECRET', 'web-session');
    await putSecret(owner, 'app', 'development', 'OLD_KEY', 'old');
    assert.equal((await owner('DELETE', secretsPath('app', 'development', 'OLD_KEY'))).status, 204);
  });
  after(() => srv.close());

  it('lists the members with role, join time, 2FA and last activity; never a hash or token; readable by every role, not by API tokens', async () => {
    const dev = await join('list-dev@example.org', 'developer');
    const viewer = await join('list-viewer@example.org', 'viewer');
    const res = await owner('GET', MEMBERS);
    assert.equal(res.status, 200, res.text);
    const listed = res.body.members as { userId: string; email: string; role: string; joinedAt: string; twoFactorEnabled: boolean; lastActiveAt: string | null }[];
    assert.deepEqual(Object.keys(listed[0]!).sort(), ['customRole', 'email', 'joinedAt', 'lastActiveAt', 'role', 'twoFactorEnabled', 'userId']);
    assert.deepEqual(listed.map((m) => [m.email, m.role]).slice(0, 3), [[OWNER.email, 'owner'], [dev.email, 'developer'], [viewer.email, 'viewer']]);
    const ownerRow = listed.find((m) => m.userId === ownerId)!;
    assert.equal(ownerRow.twoFactorEnabled, false);
    assert.equal(ownerRow.joinedAt, new Date(setupAt).toISOString());
    assert.equal(typeof ownerRow.lastActiveAt, 'string');
    assert.doesNotMatch(res.text, /argon2|password|kn_(ref|api|inv)_/i);
    assert.equal((await viewer.call('GET', MEMBERS)).status, 200);
    assert.deepEqual((await dev.call('GET', MEMBERS)).body, res.body);
    const token = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    assertError(await api(srv, token.token)('GET', MEMBERS), 403, 'forbidden');
  });

  it('an owner changes a role: audited with before and after, and the member’s existing access token carries the new role at once', async () => {
    const dev = await join('promoted@example.org', 'developer');
    assert.equal(await roleOf(dev.call), 'developer');
    const accessToken = dev.session.accessToken;
    const res = await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'admin' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.member.userId, dev.id);
    assert.equal(res.body.member.role, 'admin');
    // The same access token, not a renewed one: the cached session row was dropped.
    assert.equal(await roleOf(api(srv, accessToken)), 'admin');
    assert.equal((await api(srv, accessToken)('GET', '/api/v1/org/invitations')).status, 200, 'admin powers at once');
    const audit = await auditOf('member.role_change', dev.id);
    assert.equal(audit.length, 1);
    assert.deepEqual(JSON.parse(audit[0]!.details), { before: 'developer', after: 'admin' });
    assert.equal(audit[0]!.actor_id, ownerId);
    // The same role again changes nothing and records nothing.
    assert.equal((await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'admin' })).status, 200);
    assert.equal((await auditOf('member.role_change', dev.id)).length, 1);
    // And down again: powers go at once too.
    assert.equal((await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'viewer' })).status, 200);
    assert.equal(await roleOf(api(srv, accessToken)), 'viewer');
    assertError(await api(srv, accessToken)('GET', secretsPath('app', 'development', 'API_KEY')), 403, 'forbidden');
  });

  it('refusals: admin → owner (403 role_not_grantable), admin demoting or removing an owner (403), developer (403 forbidden), API token (403), bad role (400)', async () => {
    const admin = await join('refusing-admin@example.org', 'admin');
    const dev = await join('refused-dev@example.org', 'developer');
    assertError(await admin.call('PATCH', `${MEMBERS}/${dev.id}`, { role: 'owner' }), 403, 'role_not_grantable');
    assertError(await admin.call('PATCH', `${MEMBERS}/${admin.id}`, { role: 'owner' }), 403, 'role_not_grantable');
    assertError(await admin.call('PATCH', `${MEMBERS}/${ownerId}`, { role: 'viewer' }), 403, 'role_not_grantable');
    assertError(await admin.call('DELETE', `${MEMBERS}/${ownerId}`), 403, 'role_not_grantable');
    assertError(await dev.call('PATCH', `${MEMBERS}/${dev.id}`, { role: 'admin' }), 403, 'forbidden');
    assertError(await dev.call('DELETE', `${MEMBERS}/${admin.id}`), 403, 'forbidden');
    const token = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    assertError(await api(srv, token.token)('PATCH', `${MEMBERS}/${dev.id}`, { role: 'viewer' }), 403, 'forbidden');
    assertError(await api(srv, token.token)('DELETE', `${MEMBERS}/${dev.id}`), 403, 'forbidden');
    assertError(await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'superuser' }), 400, 'validation_failed');
    assertError(await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'admin', extra: 1 }), 400, 'validation_failed');
    assertError(await owner('PATCH', `${MEMBERS}/${dev.id}`, {}), 400, 'validation_failed');
    assert.equal(await roleOf(api(srv, ownerSession)), 'owner');
    assert.equal(await roleOf(dev.call), 'developer');
    // An admin may manage up to admin, themselves included.
    assert.equal((await admin.call('PATCH', `${MEMBERS}/${dev.id}`, { role: 'admin' })).status, 200);
    assert.equal((await admin.call('PATCH', `${MEMBERS}/${admin.id}`, { role: 'developer' })).status, 200);
    assert.equal(await roleOf(admin.call), 'developer');
  });

  it('the last owner can be neither demoted nor removed (409 last_owner); with two owners, one may step down', async () => {
    assertError(await owner('PATCH', `${MEMBERS}/${ownerId}`, { role: 'admin' }), 409, 'last_owner');
    assertError(await owner('DELETE', `${MEMBERS}/${ownerId}`), 409, 'last_owner');
    const second = await join('co-owner@example.org', 'owner');
    assert.equal((await second.call('PATCH', `${MEMBERS}/${second.id}`, { role: 'admin' })).status, 200);
    assertError(await owner('PATCH', `${MEMBERS}/${ownerId}`, { role: 'admin' }), 409, 'last_owner');
    assert.equal((await owner('PATCH', `${MEMBERS}/${second.id}`, { role: 'owner' })).status, 200);
    // Removing yourself is allowed while another owner remains.
    const res = await second.call('DELETE', `${MEMBERS}/${second.id}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.revokedSessions, 1);
    assertError(await second.call('GET', '/api/v1/me'), 401, 'unauthenticated');
    assert.deepEqual(JSON.parse((await auditOf('member.remove', second.id))[0]!.details), {
      role: 'owner',
      self: true,
      revokedSessions: 1,
      revokedTokens: 0,
      readableSecrets: 3,
    });
    assertError(await owner('DELETE', `${MEMBERS}/${ownerId}`), 409, 'last_owner');
  });

  it('two owners demoting each other at once: one wins; the other, an admin by then, is refused (403); an owner is always left', async () => {
    const racer = await join('racer@example.org', 'owner');
    const answers = await Promise.all([owner('PATCH', `${MEMBERS}/${racer.id}`, { role: 'admin' }), racer.call('PATCH', `${MEMBERS}/${ownerId}`, { role: 'admin' })]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 403], answers.map((a) => a.text).join('\n'));
    assertError(answers.find((a) => a.status === 403)!, 403, 'role_not_grantable');
    const owners = await srv.db.selectFrom('memberships').select('user_id').where('role', '=', 'owner').execute();
    assert.equal(owners.length, 1);
    // Back to the original owner alone, for the tests that follow.
    if (owners[0]!.user_id === racer.id) assert.equal((await racer.call('PATCH', `${MEMBERS}/${ownerId}`, { role: 'owner' })).status, 200);
    assert.equal((await owner('DELETE', `${MEMBERS}/${racer.id}`)).status, 200);
  });

  it('removal ends the member’s sessions, refresh tokens and API tokens in the org at once, and lists the secrets to rotate (keys only)', async () => {
    // An admin: developers cannot make API tokens.
    const dev = await join('leaver@example.org', 'admin');
    const other = await api(srv)('POST', '/api/v1/auth/login', { email: dev.email, password: PASSWORD });
    assert.equal(other.status, 200, other.text);
    const token = await createToken(dev.call, { project: 'app', environment: 'development', access: 'read' });
    const expired = await createToken(dev.call, { project: 'app', environment: 'development', access: 'read', expiresInSeconds: 60 });
    const ownersToken = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    assert.equal((await api(srv, token.token)('GET', secretsPath('app', 'development', 'API_KEY'))).status, 200, 'the token works, and is cached');
    assert.equal(await roleOf(dev.call), 'admin');
    clock.advance(61_000);

    const res = await owner('DELETE', `${MEMBERS}/${dev.id}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      revokedSessions: 2,
      revokedTokens: 1,
      readableSecrets: [
        { project: 'app', environment: 'development', key: 'API_KEY' },
        { project: 'app', environment: 'production', key: 'DB_PASS' },
        { project: 'web', environment: 'development', key: 'SESSION_SECRET' },
      ],
    });
    assert.doesNotMatch(res.text, /dev-api-key|prod-db-pass|web-session/);
    assertError(await api(srv, dev.session.accessToken)('GET', '/api/v1/me'), 401, 'unauthenticated');
    assertError(await api(srv, other.body.accessToken)('GET', '/api/v1/me'), 401, 'unauthenticated');
    assertError(await api(srv)('POST', '/api/v1/auth/refresh', { refreshToken: dev.session.refreshToken }), 401, 'invalid_refresh_token');
    assertError(await api(srv, token.token)('GET', secretsPath('app', 'development', 'API_KEY')), 401, 'unauthenticated');
    assertError(await api(srv, expired.token)('GET', secretsPath('app', 'development', 'API_KEY')), 401, 'unauthenticated');
    assert.equal((await api(srv, ownersToken.token)('GET', secretsPath('app', 'development', 'API_KEY'))).status, 200, 'other members’ tokens live on');
    const revokedAt = async (id: string) => (await srv.db.selectFrom('api_tokens').select('revoked_at').where('id', '=', id).executeTakeFirstOrThrow()).revoked_at;
    assert.equal(await revokedAt(token.info.id), clock());
    assert.equal(await revokedAt(expired.info.id), null, 'an expired token is left as it was');
    assert.ok(!(await owner('GET', MEMBERS)).body.members.some((m: { userId: string }) => m.userId === dev.id));
    // The account stays; signing in to the org is no longer possible.
    assertError(await api(srv)('POST', '/api/v1/auth/login', { email: dev.email, password: PASSWORD }), 401, 'invalid_credentials');
    const audit = await auditOf('member.remove', dev.id);
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.actor_id, ownerId);
    assert.deepEqual(JSON.parse(audit[0]!.details), { role: 'admin', self: false, revokedSessions: 2, revokedTokens: 1, readableSecrets: 3 });
    assertError(await owner('DELETE', `${MEMBERS}/${dev.id}`), 404, 'member_not_found');
  });

  it('removing a viewer lists no secrets: a viewer never read values', async () => {
    const viewer = await join('viewer-leaver@example.org', 'viewer');
    const res = await owner('DELETE', `${MEMBERS}/${viewer.id}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { revokedSessions: 1, revokedTokens: 0, readableSecrets: [] });
    assertError(await viewer.call('GET', MEMBERS), 401, 'unauthenticated');
  });

  it('another organization’s member is answered exactly like an unknown id (404 member_not_found)', async () => {
    const now = clock();
    const foreignId = 'usr_foreign_member';
    await srv.db.transaction().execute(async (trx) => {
      const globex = await srv.keynest.services.orgs.createOrg(trx, 'Globex', now);
      await trx.insertInto('users').values({ id: foreignId, email: 'globex@example.org', password_hash: 'x', created_at: now, email_verified_at: null }).execute();
      await trx.insertInto('memberships').values({ org_id: globex.id, user_id: foreignId, role: 'viewer', created_at: now }).execute();
    });
    const strip = (body: { error: unknown }) => ({ error: body.error });
    for (const [method, body] of [['PATCH', { role: 'admin' }], ['DELETE', undefined]] as const) {
      const foreign = await owner(method, `${MEMBERS}/${foreignId}`, body);
      const unknown = await owner(method, `${MEMBERS}/usr_no_such_user`, body);
      assertError(foreign, 404, 'member_not_found');
      assertError(unknown, 404, 'member_not_found');
      assert.deepEqual(strip(foreign.body), strip(unknown.body));
    }
    const row = await srv.db.selectFrom('memberships').select('role').where('user_id', '=', foreignId).executeTakeFirstOrThrow();
    assert.equal(row.role, 'viewer', 'untouched');
    assert.ok(!(await owner('GET', MEMBERS)).body.members.some((m: { userId: string }) => m.userId === foreignId));
    // A user in both orgs: removed from this one, their Globex membership and sessions stay.
    const both = await join('both@example.org', 'developer');
    const globexId = (await srv.db.selectFrom('orgs').select('id').where('name', '=', 'Globex').executeTakeFirstOrThrow()).id;
    await srv.db.insertInto('memberships').values({ org_id: globexId, user_id: both.id, role: 'viewer', created_at: clock() }).execute();
    const inGlobex = await api(srv)('POST', '/api/v1/auth/login', { email: both.email, password: PASSWORD, org: 'Globex' });
    assert.equal(inGlobex.status, 200, inGlobex.text);
    assert.equal((await owner('DELETE', `${MEMBERS}/${both.id}`)).body.revokedSessions, 1);
    assert.equal(await roleOf(api(srv, inGlobex.body.accessToken)), 'viewer');
  });

  it('role changes and removal need a recent sign-in (401 reauth_required)', async () => {
    const dev = await join('stale@example.org', 'developer');
    clock.advance(STEP_UP_MS + 1000);
    assertError(await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'viewer' }), 401, 'reauth_required');
    assertError(await owner('DELETE', `${MEMBERS}/${dev.id}`), 401, 'reauth_required');
    assert.equal((await owner('GET', MEMBERS)).status, 200, 'listing does not');
    assert.equal((await request(srv, ownerSession, 'POST', '/api/v1/auth/reauth', { password: OWNER.password })).status, 204);
    assert.equal((await owner('PATCH', `${MEMBERS}/${dev.id}`, { role: 'viewer' })).status, 200);
  });
});
