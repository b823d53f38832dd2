import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const PASSWORD = 'Juniper-Comet-Basalt-7719';
const INVITATIONS = '/api/v1/org/invitations';

/**
 * Members trying to hand out more than they hold: an admin making an owner, a developer or viewer
 * inviting anyone, an API token reaching member management, open sign-up giving a role that runs
 * the org. Mails go to the outbox file here; the tests read the tokens from it.
 */
describe('nobody gains or grants more than they hold through invitations or sign-up', () => {
  let srv: TestServer;
  let owner: Api;
  const members: Record<string, Api> = {};
  const outbox = () => (existsSync(path.join(srv.dataDir, 'outbox.jsonl')) ? readFileSync(path.join(srv.dataDir, 'outbox.jsonl'), 'utf8') : '');
  const tokenFor = async (email: string, kind: 'inv' | 'sgn') => {
    for (let i = 0; i < 250; i++) {
      const lines = outbox().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { to: string; text: string });
      const found = lines.reverse().find((m) => m.to === email && m.text.includes(`kn_${kind}_`));
      if (found) return new RegExp(`kn_${kind}_[A-Za-z0-9_-]{43}`).exec(found.text)![0];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no kn_${kind}_ mail to ${email}`);
  };
  const join = async (inviter: Api, email: string, role: string): Promise<Api> => {
    assert.equal((await inviter('POST', INVITATIONS, { email, role })).status, 201);
    const res = await api(srv)('POST', '/api/v1/auth/invitations/accept', { token: await tokenFor(email, 'inv'), password: PASSWORD });
    assert.equal(res.status, 201, res.text);
    return api(srv, res.body.accessToken);
  };

  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    for (const role of ['admin', 'developer', 'viewer']) members[role] = await join(owner, `${role}@example.org`, role);
  });
  after(() => srv.close());

  it('an admin cannot invite an owner (403 role_not_grantable), but may invite up to admin; an owner may invite an owner', async () => {
    const admin = members.admin!;
    const refused = await admin('POST', INVITATIONS, { email: 'new-owner@example.org', role: 'owner' });
    assertError(refused, 403, 'role_not_grantable');
    assert.equal(await srv.db.selectFrom('invitations').select('id').where('email', '=', 'new-owner@example.org').executeTakeFirst(), undefined, 'nothing stored');
    const asAdmin = await join(admin, 'second-admin@example.org', 'admin');
    assert.equal((await asAdmin('GET', '/api/v1/me')).body.principal.role, 'admin');
    const asOwner = await join(owner, 'co-owner@example.org', 'owner');
    assert.equal((await asOwner('GET', '/api/v1/me')).body.principal.role, 'owner');
  });

  it('a developer or viewer (no member:manage) cannot list, create or revoke invitations', async () => {
    const pending = (await owner('POST', INVITATIONS, { email: 'pending@example.org', role: 'viewer' })).body.invitation.id as string;
    for (const role of ['developer', 'viewer']) {
      const member = members[role]!;
      assertError(await member('GET', INVITATIONS), 403, 'forbidden');
      for (const wanted of ['viewer', 'admin', 'owner']) assertError(await member('POST', INVITATIONS, { email: 'friend@example.org', role: wanted }), 403, 'forbidden');
      assertError(await member('DELETE', `${INVITATIONS}/${pending}`), 403, 'forbidden');
    }
    assert.equal((await owner('GET', INVITATIONS)).body.invitations.length, 1, 'still pending');
  });

  it('an API token never reaches member management, whatever its access', async () => {
    await createProject(owner, 'app');
    const { token } = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    const machine = api(srv, token);
    assertError(await machine('GET', INVITATIONS), 403, 'forbidden');
    assertError(await machine('POST', INVITATIONS, { email: 'bot@example.org', role: 'viewer' }), 403, 'forbidden');
  });

  it('open sign-up never gives a role that runs the org, even one written to the database by hand', async () => {
    assertError(await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: true, role: 'admin' } }), 400, 'validation_failed');
    assert.equal((await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: true } })).status, 200);
    await srv.db.updateTable('orgs').set({ signup_role: 'owner' }).execute();
    assert.equal((await owner('GET', '/api/v1/org/settings')).body.openSignup.role, 'viewer');
    assert.equal((await api(srv)('POST', '/api/v1/auth/signup', { email: 'stranger@example.net', password: PASSWORD })).status, 202);
    await srv.keynest.settled();
    const res = await api(srv)('POST', '/api/v1/auth/signup/verify', { token: await tokenFor('stranger@example.net', 'sgn'), password: PASSWORD });
    assert.equal(res.status, 201, res.text);
    const stranger = api(srv, res.body.accessToken);
    assert.equal((await stranger('GET', '/api/v1/me')).body.principal.role, 'viewer');
    assertError(await stranger('POST', INVITATIONS, { email: 'friend@example.net', role: 'viewer' }), 403, 'forbidden');
  });
});
