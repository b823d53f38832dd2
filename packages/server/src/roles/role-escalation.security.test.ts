import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, setupOwner, signIn, type Api } from '../test-support/api.js';
import { addMember, createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const PASSWORD = 'Granite-Osprey-Lantern-4417';
const ROLES = '/api/v1/roles';

/**
 * Custom roles and per-project roles, attacked: nobody defines, gives or overrides their way to
 * more than they hold; another org's roles are missing; a token of a custom-role member does
 * nothing its creator could not; every change applies at the very next request.
 */
describe('custom roles: no escalation, tenant isolation, immediate effect', () => {
  let srv: TestServer;
  let owner: Api;
  let orgId: string;
  let seq = 0;

  const auditOf = (action: string) => srv.db.selectFrom('audit_events').select(['target_id', 'details']).where('action', '=', action).orderBy('id').execute();

  /** A member holding the custom role `roleId` (or a built-in role), signed in. */
  async function memberWith(role: { roleId: string } | { role: string }): Promise<{ id: string; email: string; call: Api }> {
    const email = `m${++seq}@roles.test`;
    const id = await addMember(srv.db, { orgId, role: 'viewer', email, password: PASSWORD, now: Date.now() });
    const set = await owner('PATCH', `/api/v1/org/members/${id}`, role);
    assert.equal(set.status, 200, set.text);
    return { id, email, call: api(srv, await signIn(srv, { email, password: PASSWORD })) };
  }

  async function role(body: Record<string, unknown>, as: Api = owner): Promise<string> {
    const res = await as('POST', ROLES, body);
    assert.equal(res.status, 201, res.text);
    return res.body.role.id;
  }

  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    await createProject(owner, 'app', ['development', 'staging', 'production']);
    await createProject(owner, 'other', ['development', 'production']);
    for (const p of ['app', 'other']) for (const e of ['development', 'production']) await putSecret(owner, p, e, 'KEY', `${p}-${e}-value`);
  });
  after(() => srv.close());

  it('rules are validated: unknown permissions, org-level permissions in narrowed rules, empty lists (400, naming the rule); bad input is never a 500', async () => {
    assertError(await owner('POST', ROLES, { name: 'x', rules: [{ permissions: ['secret:steal'] }] }), 400, 'validation_failed');
    const narrowed = await owner('POST', ROLES, { name: 'x', rules: [{ permissions: ['project:read'] }, { permissions: ['member:manage'], projects: ['app'] }] });
    assertError(narrowed, 400, 'validation_failed');
    assert.match(narrowed.body.error.message, /Rule 1/);
    assertError(await owner('POST', ROLES, { name: 'x', rules: [{ permissions: ['environment:manage'], environments: ['production'] }] }), 400, 'validation_failed');
    assertError(await owner('POST', ROLES, { name: 'x', rules: [{ permissions: ['project:read'], environments: [] }] }), 400, 'validation_failed');
    assertError(await owner('POST', ROLES, { name: 'x', rules: [{ permissions: ['project:read'] }], template: 'auditor' }), 400, 'validation_failed');
    assertError(await owner('POST', ROLES, { name: 'x', template: 'ci-deployer' }), 400, 'validation_failed');
    assertError(await owner('POST', ROLES, { name: 'admin', rules: [{ permissions: ['project:read'] }] }), 400, 'invalid_name');
    assertError(await owner('POST', ROLES, { name: 'x', rules: [{ permissions: ['project:read'], projects: ['nope'] }] }), 404, 'project_not_found');
    // Malformed input is a 400 with a stable code, never a 500.
    for (const body of [
      { name: 'x', rules: [{ permissions: ['project:read'], projects: 'x' }] },
      { name: 'x', rules: '*' },
      { name: 'x', rules: [{ permissions: [] }] },
      { name: 'x', rules: [{ permissions: ['project:read'], environments: ['\u0000'] }] },
      { name: 'x', template: 'nope' },
      { name: 'x', template: 'auditor', environments: ['production'] },
      { name: 'x', projects: ['app'], rules: [{ permissions: ['project:read'] }] },
      { name: '', rules: [{ permissions: ['project:read'] }] },
    ]) {
      const res = await owner('POST', ROLES, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.ok(['validation_failed', 'invalid_name'].includes(res.body.error.code), res.text);
    }
    assertError(await owner('PATCH', `${ROLES}/x`, {}), 400, 'validation_failed');
    const someone = await memberWith({ role: 'viewer' });
    assertError(await owner('PUT', `/api/v1/projects/app/member-roles/${someone.id}`, { role: 'owner' }), 400, 'validation_failed');
    assertError(await owner('PUT', `/api/v1/projects/app/member-roles/${someone.id}`, {}), 400, 'validation_failed');
    assertError(await owner('PUT', `/api/v1/projects/app/member-roles/${someone.id}`, { role: 'viewer', roleId: 'x' }), 400, 'validation_failed');
    assertError(await owner('PATCH', `/api/v1/org/members/${someone.id}`, { role: 'custom' }), 400, 'validation_failed');
    assertError(await owner('PUT', `/api/v1/projects/nope/member-roles/${someone.id}`, { role: 'viewer' }), 404, 'project_not_found');
    assertError(await owner('PUT', '/api/v1/projects/app/member-roles/usr_nobody', { role: 'viewer' }), 404, 'member_not_found');
  });

  it('a role manager cannot define, widen, give or override beyond their own access', async () => {
    // Manages roles and members, but reads values only in development.
    const managerRole = await role({
      name: 'Manager',
      rules: [
        { permissions: ['member:read', 'member:manage', 'role:manage'] },
        { permissions: ['project:read', 'secret:read_keys'] },
        { permissions: ['secret:read_values'], environments: ['development'] },
      ],
    });
    const manager = await memberWith({ roleId: managerRole });
    const victim = await memberWith({ role: 'viewer' });
    // Defining: values in production, everywhere, or an org-level permission it lacks.
    for (const rules of [[{ permissions: ['secret:read_values'], environments: ['production'] }], [{ permissions: ['secret:read_values'] }], [{ permissions: ['settings:manage'] }]]) {
      assertError(await manager.call('POST', ROLES, { name: `esc-${++seq}`, rules }), 403, 'role_not_grantable');
    }
    const mine = await role({ name: 'Dev reader', rules: [{ permissions: ['project:read', 'secret:read_values'], environments: ['development'] }] }, manager.call);
    assertError(await manager.call('PATCH', `${ROLES}/${mine}`, { rules: [{ permissions: ['secret:read_values'] }] }), 403, 'role_not_grantable');
    // Changing a role it could not give as it stands (made by the owner, with more).
    const big = await role({ name: 'Big', rules: [{ permissions: ['secret:write'] }] });
    assertError(await manager.call('PATCH', `${ROLES}/${big}`, { description: 'mine now' }), 403, 'role_not_grantable');
    assertError(await manager.call('DELETE', `${ROLES}/${big}`), 403, 'role_not_grantable');
    // Giving: a built-in role with more, a custom role with more, itself a promotion.
    assertError(await manager.call('PATCH', `/api/v1/org/members/${victim.id}`, { role: 'developer' }), 403, 'role_not_grantable');
    assertError(await manager.call('PATCH', `/api/v1/org/members/${victim.id}`, { roleId: big }), 403, 'role_not_grantable');
    assertError(await manager.call('PATCH', `/api/v1/org/members/${manager.id}`, { role: 'admin' }), 403, 'role_not_grantable');
    assert.equal((await manager.call('PATCH', `/api/v1/org/members/${victim.id}`, { roleId: mine })).status, 200);
    // Overriding: itself, or someone, into more in a project.
    assertError(await manager.call('PUT', `/api/v1/projects/other/member-roles/${manager.id}`, { role: 'developer' }), 403, 'role_not_grantable');
    assertError(await manager.call('PUT', `/api/v1/projects/app/member-roles/${victim.id}`, { roleId: big }), 403, 'role_not_grantable');
    // Nothing of that happened: production values stay out of reach.
    assertError(await manager.call('GET', secretsPath('other', 'production', 'KEY')), 403, 'forbidden');
    assert.equal((await manager.call('GET', secretsPath('other', 'development', 'KEY'))).body.value, 'other-development-value');
    // And an owner is never overridden.
    const ownerId = (await owner('GET', '/api/v1/me')).body.principal.user.id;
    assertError(await owner('PUT', `/api/v1/projects/app/member-roles/${ownerId}`, { role: 'viewer' }), 409, 'owner_not_overridable');
  });

  it("another organization's roles are missing (404), to read, change, delete or give", async () => {
    const mine = await role({ name: 'Local', rules: [{ permissions: ['project:read'] }] });
    const other = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', Date.now()));
    await addMember(srv.db, { orgId: other.id, role: 'owner', email: 'boss@globex.test', password: PASSWORD, now: Date.now() });
    const stranger = api(srv, await signIn(srv, { email: 'boss@globex.test', password: PASSWORD }));
    assertError(await stranger('GET', `${ROLES}/${mine}`), 404, 'role_not_found');
    assertError(await stranger('GET', `${ROLES}/Local`), 404, 'role_not_found');
    assertError(await stranger('PATCH', `${ROLES}/${mine}`, { description: 'x' }), 404, 'role_not_found');
    assertError(await stranger('DELETE', `${ROLES}/${mine}`), 404, 'role_not_found');
    assert.deepEqual((await stranger('GET', ROLES)).body.roles, []);
    const strangerId = (await stranger('GET', '/api/v1/me')).body.principal.user.id;
    assertError(await stranger('PATCH', `/api/v1/org/members/${strangerId}`, { roleId: mine }), 404, 'role_not_found');
    const victim = await memberWith({ role: 'viewer' });
    const theirs = await role({ name: 'Theirs', rules: [{ permissions: ['project:read'] }] }, stranger);
    assertError(await owner('PATCH', `/api/v1/org/members/${victim.id}`, { roleId: theirs }), 404, 'role_not_found');
    assertError(await owner('PUT', `/api/v1/projects/app/member-roles/${victim.id}`, { roleId: theirs }), 404, 'role_not_found');
  });

  it("a custom-role member's token never reaches beyond its creator, now or after the creator's role changes", async () => {
    const devOnly = await role({ name: 'Dev values', rules: [{ permissions: ['project:read', 'secret:read_keys', 'secret:read_values'], environments: ['development'] }] });
    const m = await memberWith({ roleId: devOnly });
    // Granting production explicitly is refused at creation.
    const refused = await m.call('POST', '/api/v1/tokens', { name: 'prod', type: 'read-only', scope: [{ project: 'app', environment: 'production' }], expiresInSeconds: 3600 });
    assert.ok([403, 404].includes(refused.status), refused.text);
    // token:manage is org-level and this role lacks it: no token at all. Give the role token:manage.
    assert.equal((await owner('PATCH', `${ROLES}/${devOnly}`, { rules: [{ permissions: ['token:manage'] }, { permissions: ['project:read', 'secret:read_keys', 'secret:read_values'], environments: ['development'] }] })).status, 200);
    const created = await m.call('POST', '/api/v1/tokens', { name: 'whole', type: 'read-only', scope: [{ project: 'app' }], expiresInSeconds: 3600 });
    assert.equal(created.status, 201, created.text);
    const token = api(srv, created.body.token);
    assert.equal((await token('GET', secretsPath('app', 'development', 'KEY'))).body.value, 'app-development-value');
    const prod = await token('GET', secretsPath('app', 'production', 'KEY'));
    assert.ok([403, 404].includes(prod.status), prod.text);
    assert.doesNotMatch(prod.text, /app-production-value/);
    // The creator's role loses development values: the token loses them at its next request.
    assert.equal((await owner('PATCH', `${ROLES}/${devOnly}`, { rules: [{ permissions: ['token:manage'] }, { permissions: ['project:read', 'secret:read_keys'], environments: ['development'] }] })).status, 200);
    assertError(await token('GET', secretsPath('app', 'development', 'KEY')), 403, 'forbidden');
    assertError(await m.call('GET', secretsPath('app', 'development', 'KEY')), 403, 'forbidden');
  });

  it('role edits, assignments and project roles apply at the very next request, and are audited before/after', async () => {
    const contractor = await role({ name: 'Contract', template: 'contractor' });
    const m = await memberWith({ roleId: contractor });
    const read = (p: string, e: string) => m.call('GET', secretsPath(p, e, 'KEY'));
    assert.equal((await read('app', 'development')).status, 200);
    assertError(await read('app', 'production'), 403, 'forbidden');
    // A project role: viewer in app (no values), the org role elsewhere.
    assert.equal((await owner('PUT', `/api/v1/projects/app/member-roles/${m.id}`, { role: 'viewer' })).status, 200);
    assertError(await read('app', 'development'), 403, 'forbidden');
    assert.equal((await read('other', 'development')).status, 200);
    const listed = await owner('GET', '/api/v1/projects/app/member-roles');
    assert.deepEqual(listed.body.memberRoles.map((r: { userId: string; role: string }) => [r.userId, r.role]), [[m.id, 'viewer']]);
    assert.equal((await owner('DELETE', `/api/v1/projects/app/member-roles/${m.id}`)).status, 204);
    assert.equal((await read('app', 'development')).status, 200);
    // The role itself changes: values in production too.
    assert.equal((await owner('PATCH', `${ROLES}/${contractor}`, { rules: [{ permissions: ['project:read', 'secret:read_values'] }] })).status, 200);
    assert.equal((await read('app', 'production')).body.value, 'app-production-value');
    // In use: not deleted; once the member has another role, it is.
    assertError(await owner('DELETE', `${ROLES}/${contractor}`), 409, 'role_in_use');
    assert.equal((await owner('PATCH', `/api/v1/org/members/${m.id}`, { role: 'viewer' })).status, 200);
    assertError(await read('app', 'production'), 403, 'forbidden');
    assert.equal((await owner('DELETE', `${ROLES}/${contractor}`)).status, 204);
    // The audit trail, with before and after, and never a value.
    const created = (await auditOf('role.create')).find((a) => a.target_id === contractor)!;
    assert.equal(JSON.parse(JSON.parse(created.details).after).name, 'Contract');
    const updated = (await auditOf('role.update')).filter((a) => a.target_id === contractor);
    const last = JSON.parse(updated.at(-1)!.details);
    assert.deepEqual(JSON.parse(last.after).rules, [{ permissions: ['project:read', 'secret:read_values'], projects: '*', environments: '*' }]);
    assert.equal(JSON.parse(last.before).rules.length, 2);
    const deleted = JSON.parse((await auditOf('role.delete')).find((a) => a.target_id === contractor)!.details);
    assert.equal(deleted.after, null);
    const set = JSON.parse((await auditOf('member.project_role_set')).filter((a) => a.target_id === m.id).at(-1)!.details);
    assert.deepEqual({ before: set.before, after: set.after, project: set.project }, { before: null, after: 'viewer', project: 'app' });
    const cleared = JSON.parse((await auditOf('member.project_role_clear')).filter((a) => a.target_id === m.id).at(-1)!.details);
    assert.deepEqual({ before: cleared.before, after: cleared.after }, { before: 'viewer', after: null });
    const changes = (await auditOf('member.role_change')).filter((a) => a.target_id === m.id).map((a) => JSON.parse(a.details));
    assert.deepEqual(changes.map((c) => [c.before, c.after]), [['viewer', contractor], [contractor, 'viewer']]);
    const all = (await srv.db.selectFrom('audit_events').select('details').execute()).map((r) => r.details).join('\n');
    assert.doesNotMatch(all, /-value/);
  });

  it('offboarding a custom-role member lists only the secrets their access could read', async () => {
    const devOnly = await role({ name: 'Offboard', rules: [{ permissions: ['project:read', 'secret:read_values'], environments: ['development'] }] });
    const m = await memberWith({ roleId: devOnly });
    assert.equal((await owner('PUT', `/api/v1/projects/other/member-roles/${m.id}`, { role: 'viewer' })).status, 200);
    const removed = await owner('DELETE', `/api/v1/org/members/${m.id}`);
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.readableSecrets, [{ project: 'app', environment: 'development', key: 'KEY' }]);
    assert.equal((await owner('GET', '/api/v1/projects/other/member-roles')).body.memberRoles.length, 0);
  });

  it('templates: listed, and a role made from one narrowed to a project', async () => {
    const templates = (await owner('GET', '/api/v1/role-templates')).body.templates as { id: string }[];
    assert.deepEqual(templates.map((t) => t.id).sort(), ['auditor', 'ci-deployer', 'contractor']);
    const res = await owner('POST', ROLES, { name: 'Deploy app', template: 'ci-deployer', projects: ['app'], environments: ['production'] });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.role.rules, [{ permissions: ['project:read', 'secret:read_values'], projects: [{ id: res.body.role.rules[0].projects[0].id, name: 'app' }], environments: ['production'] }]);
    const deployer = await memberWith({ roleId: res.body.role.id });
    assert.equal((await deployer.call('GET', secretsPath('app', 'production', 'KEY'))).body.value, 'app-production-value');
    assertError(await deployer.call('GET', secretsPath('app', 'development', 'KEY')), 404, 'environment_not_found');
    assertError(await deployer.call('GET', secretsPath('other', 'production', 'KEY')), 404, 'project_not_found');
    const auditor = await memberWith({ roleId: await role({ name: 'Audit', template: 'auditor' }) });
    assert.equal((await auditor.call('GET', '/api/v1/audit')).status, 200);
    const keys = await auditor.call('GET', `${secretsPath('app', 'production')}?values=false`);
    assert.equal(keys.status, 200, keys.text);
    assertError(await auditor.call('GET', secretsPath('app', 'production', 'KEY')), 403, 'forbidden');
  });

  it('an invitation may give a custom role (covered by the inviter); the invitee joins holding it, and the role stays while the invitation lives', async () => {
    const outboxToken = async (email: string): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        const file = path.join(srv.dataDir, 'outbox.jsonl');
        const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(email)) : [];
        const found = lines.length > 0 ? /kn_inv_[A-Za-z0-9_-]{43}/.exec(lines.at(-1)!)?.[0] : undefined;
        if (found) return found;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no invitation mailed to ${email}`);
    };
    const devValues = await role({ name: 'Invited dev values', rules: [{ permissions: ['project:read', 'secret:read_values'], environments: ['development'] }] });
    const invited = await owner('POST', '/api/v1/org/invitations', { email: 'joiner@roles.test', roleId: 'Invited dev values' });
    assert.equal(invited.status, 201, invited.text);
    assert.deepEqual([invited.body.invitation.role, invited.body.invitation.customRole], ['custom', { id: devValues, name: 'Invited dev values' }]);
    assertError(await owner('DELETE', `${ROLES}/${devValues}`), 409, 'role_in_use');
    const accepted = await api(srv)('POST', '/api/v1/auth/invitations/accept', { token: await outboxToken('joiner@roles.test'), password: PASSWORD });
    assert.ok([200, 201].includes(accepted.status), accepted.text);
    const joiner = api(srv, accepted.body.accessToken);
    assert.equal((await joiner('GET', secretsPath('app', 'development', 'KEY'))).body.value, 'app-development-value');
    assertError(await joiner('GET', secretsPath('app', 'production', 'KEY')), 404, 'environment_not_found');
    const listed = (await owner('GET', '/api/v1/org/members')).body.members.find((m: { email: string }) => m.email === 'joiner@roles.test');
    assert.deepEqual([listed.role, listed.customRole.name], ['custom', 'Invited dev values']);
    // An inviter whose access does not cover the role (nor a built-in one above it) is refused.
    const inviterRole = await role({ name: 'Inviter', rules: [{ permissions: ['member:read', 'member:manage'] }, { permissions: ['project:read', 'secret:read_keys'] }] });
    const inviter = await memberWith({ roleId: inviterRole });
    assertError(await inviter.call('POST', '/api/v1/org/invitations', { email: 'x@roles.test', roleId: devValues }), 403, 'role_not_grantable');
    assertError(await inviter.call('POST', '/api/v1/org/invitations', { email: 'x@roles.test', role: 'developer' }), 403, 'role_not_grantable');
    assertError(await inviter.call('POST', '/api/v1/org/invitations', { email: 'x@roles.test', roleId: 'rol_nobody' }), 404, 'role_not_found');
    assertError(await inviter.call('POST', '/api/v1/org/invitations', { email: 'x@roles.test', role: 'viewer', roleId: devValues }), 400, 'validation_failed');
    assert.equal((await inviter.call('POST', '/api/v1/org/invitations', { email: 'x@roles.test', role: 'viewer' })).status, 201);
  });
});
