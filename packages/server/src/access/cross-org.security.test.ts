import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../crypto/passwords.js';
import { newId } from '../crypto/random.js';
import { insertMembership, insertUser } from '../identity/store.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

/**
 * Two organizations on one instance. The API has no way yet to create a second org, so it is made
 * through the services' own store functions; everything after that goes through HTTP. Org B knows
 * every id of org A (as if leaked) and must still reach nothing.
 */
describe('organizations are isolated from each other', () => {
  let srv: TestServer;
  let a: Api;
  let b: Api;
  let aProject: { id: string; environments: { id: string; name: string }[] };
  let aToken: Awaited<ReturnType<typeof createToken>>;
  const A_VALUE = 'org-a-secret-value-1';

  before(async () => {
    srv = await startServer();
    a = api(srv, await setupOwner(srv));
    aProject = await createProject(a, 'app');
    await putSecret(a, 'app', 'production', 'DB_PASS', A_VALUE);
    aToken = await createToken(a, { project: 'app', environment: 'production', access: 'write' });

    const now = Date.now();
    const passwordHash = await hashPassword('globex-password-1');
    const userId = newId('usr');
    await srv.db.transaction().execute(async (trx) => {
      const org = await srv.keynest.services.orgs.createOrg(trx, 'Globex', now);
      await insertUser(trx, { id: userId, email: 'boss@globex.example', passwordHash, now });
      await insertMembership(trx, { orgId: org.id, userId, role: 'owner', now });
    });
    const login = await api(srv)('POST', '/api/v1/auth/login', { email: 'boss@globex.example', password: 'globex-password-1' });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.body.org.name, 'Globex');
    b = api(srv, login.body.accessToken);
  });
  after(() => srv.close());

  it("org B sees none of org A's projects, tokens or audit events", async () => {
    assert.deepEqual((await b('GET', '/api/v1/projects')).body.projects, []);
    assert.deepEqual((await b('GET', '/api/v1/tokens')).body.tokens, []);
    const events = (await b('GET', '/api/v1/audit?limit=500')).body.events as { action: string; target: { id: string | null } }[];
    assert.ok(events.every((e) => e.target.id !== aProject.id && e.action !== 'project.create' && e.action !== 'secret.write'));
  });

  it("org B cannot reach org A's project, environments or secrets by id", async () => {
    const prod = aProject.environments.find((e) => e.name === 'production')!;
    assertError(await b('GET', `/api/v1/projects/${aProject.id}`), 404, 'project_not_found');
    assertError(await b('GET', `/api/v1/projects/${aProject.id}/environments`), 404, 'project_not_found');
    assertError(await b('GET', secretsPath(aProject.id, prod.id, 'DB_PASS')), 404, 'project_not_found');
    assertError(await b('GET', secretsPath(aProject.id, prod.id)), 404, 'project_not_found');
    assertError(await b('PUT', secretsPath(aProject.id, prod.id, 'DB_PASS'), { value: 'overwritten' }), 404, 'project_not_found');
    assertError(await b('DELETE', secretsPath(aProject.id, 'production', 'DB_PASS')), 404, 'project_not_found');
    assertError(await b('POST', `/api/v1/projects/${aProject.id}/environments`, { name: 'evil' }), 404, 'project_not_found');
    assertError(await b('DELETE', `/api/v1/projects/${aProject.id}/environments/${prod.id}`), 404, 'project_not_found');
    assertError(await b('DELETE', `/api/v1/projects/${aProject.id}`), 404, 'project_not_found');
    assertError(await b('POST', '/api/v1/tokens', { name: 'steal', project: aProject.id, environment: prod.id, access: 'read' }), 404, 'project_not_found');
    assertError(await b('DELETE', `/api/v1/tokens/${aToken.info.id}`), 404, 'token_not_found');
    // Nothing of A changed.
    assert.equal(await getValue(a, 'app', 'production', 'DB_PASS'), A_VALUE);
    assert.equal(await getValue(api(srv, aToken.token), 'app', 'production', 'DB_PASS'), A_VALUE);
    assert.equal((await a('GET', '/api/v1/projects/app')).body.project.environments.length, 3);
  });

  it("org B cannot touch org A's members, invitations, tokens or sessions by id: each is missing (404), never forbidden", async () => {
    const aUserId = (await a('GET', '/api/v1/me')).body.principal.user.id as string;
    const invite = await a('POST', '/api/v1/org/invitations', { email: 'new-hire@example.com', role: 'viewer' });
    assert.equal(invite.status, 201, invite.text);
    const aSessionId = ((await a('GET', '/api/v1/me/sessions')).body.sessions as { id: string }[])[0]!.id;
    assertError(await b('PATCH', `/api/v1/org/members/${aUserId}`, { role: 'viewer' }), 404, 'member_not_found');
    assertError(await b('DELETE', `/api/v1/org/members/${aUserId}`), 404, 'member_not_found');
    assertError(await b('DELETE', `/api/v1/org/invitations/${invite.body.invitation.id}`), 404, 'invitation_not_found');
    assertError(await b('POST', `/api/v1/tokens/${aToken.info.id}/rotate`, {}), 404, 'token_not_found');
    assertError(await b('DELETE', `/api/v1/me/sessions/${aSessionId}`), 404, 'session_not_found');
    // All of it still stands in org A.
    assert.equal((await a('GET', '/api/v1/me')).status, 200);
    const members = (await a('GET', '/api/v1/org/members')).body.members as { role: string }[];
    assert.deepEqual(members.map((m) => m.role), ['owner']);
    assert.equal(((await a('GET', '/api/v1/org/invitations')).body.invitations as unknown[]).length, 1);
    assert.equal(await getValue(api(srv, aToken.token), 'app', 'production', 'DB_PASS'), A_VALUE);
  });

  it("names are per org: B's project \"app\" is B's own, and A's token cannot reach it", async () => {
    const bProject = await createProject(b, 'app');
    assert.notEqual(bProject.id, aProject.id);
    await putSecret(b, 'app', 'production', 'DB_PASS', 'org-b-secret-value');
    await putSecret(b, 'app', 'development', 'REF', '${production.DB_PASS}');
    assert.equal(await getValue(b, 'app', 'production', 'DB_PASS'), 'org-b-secret-value');
    assert.equal(await getValue(b, 'app', 'development', 'REF'), 'org-b-secret-value');
    assert.equal(await getValue(a, 'app', 'production', 'DB_PASS'), A_VALUE);
    const bProd = bProject.environments.find((e) => e.name === 'production')!;
    const aWithToken = api(srv, aToken.token);
    assertError(await aWithToken('GET', secretsPath(bProject.id, bProd.id, 'DB_PASS')), 404, 'project_not_found');
    assertError(await a('GET', secretsPath(bProject.id, bProd.id, 'DB_PASS')), 404, 'project_not_found');
    // Each org has its own data key.
    const keys = await srv.db.selectFrom('data_keys').select(['org_id', 'version']).execute();
    assert.equal(new Set(keys.map((k) => k.org_id)).size, 2);
  });
});
