import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PERMISSIONS, ROLE_PERMISSIONS, ROLES, TOKEN_ACCESS, TOKEN_ACCESS_PERMISSIONS, isRole, type Permission } from './permissions.js';
import { can, canGrantRole, canSeeEnvironment, canSeeProject, isSelfSignupRole, SELF_SIGNUP_ROLES } from './policy.js';
import type { Principal, TokenPrincipal, UserPrincipal } from './principal.js';

const docs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/permissions.md');

const user = (role: UserPrincipal['role']): UserPrincipal => ({ type: 'user', orgId: 'org_1', userId: 'usr_1', email: 'a@b.c', role, sessionId: 'ses_1', authenticatedAt: 0, mustEnrolTwoFactor: false });
const token = (access: 'read' | 'write'): TokenPrincipal => ({
  type: 'token',
  orgId: 'org_1',
  tokenId: 'tok_1',
  name: 't',
  createdBy: 'usr_1',
  owner: 'user',
  scope: { type: access === 'read' ? 'read-only' : 'custom', access, permissions: TOKEN_ACCESS_PERMISSIONS[access], grants: [{ projectId: 'prj_1', environmentId: 'env_1' }] },
});

describe('access policy', () => {
  it('docs/permissions.md lists exactly the permission catalog', () => {
    const listed = readFileSync(docs, 'utf8')
      .split('\n')
      .map((l) => /^\|\s*`([a-z_]+:[a-z_]+)`\s*\|/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined);
    assert.deepEqual([...listed].sort(), [...PERMISSIONS].sort());
  });

  it('roles grant what docs/permissions.md says', () => {
    const all = new Set<Permission>(PERMISSIONS);
    assert.deepEqual(ROLE_PERMISSIONS.owner, all);
    assert.deepEqual([...all].filter((p) => !ROLE_PERMISSIONS.admin.has(p)), ['billing:manage']);
    assert.deepEqual([...ROLE_PERMISSIONS.viewer].sort(), ['member:read', 'project:read', 'secret:read_keys']);
    assert.ok(!ROLE_PERMISSIONS.viewer.has('secret:read_values'), 'a viewer never sees values');
    for (const p of ['token:manage', 'audit:read', 'settings:manage', 'project:delete', 'member:manage'] as const) assert.ok(!ROLE_PERMISSIONS.developer.has(p), p);
    for (const role of ROLES) for (const p of PERMISSIONS) assert.equal(can(user(role), p), ROLE_PERMISSIONS[role].has(p), `${role} ${p}`);
    assert.equal(isRole('owner'), true);
    assert.equal(isRole('root'), false);
  });

  it('nobody grants a role with a permission they lack: only an owner makes an owner', () => {
    const grants = Object.fromEntries(ROLES.map((g) => [g, ROLES.filter((r) => canGrantRole(g, r))]));
    assert.deepEqual(grants, {
      owner: ['owner', 'admin', 'developer', 'viewer'],
      admin: ['admin', 'developer', 'viewer'],
      developer: ['developer', 'viewer'],
      viewer: ['viewer'],
    });
    assert.equal(canGrantRole('admin', 'root' as never), false);
    assert.equal(canGrantRole('root' as never, 'viewer'), false);
  });

  it('open sign-up gives only roles that do not run the org', () => {
    assert.deepEqual([...SELF_SIGNUP_ROLES], ['developer', 'viewer']);
    assert.equal(isSelfSignupRole('admin'), false);
    assert.equal(isSelfSignupRole('owner'), false);
    assert.equal(isSelfSignupRole('root' as never), false);
  });

  it('a token may use only its access, only in its own project environment', () => {
    for (const access of TOKEN_ACCESS) {
      const t = token(access);
      for (const p of PERMISSIONS) {
        const granted = TOKEN_ACCESS_PERMISSIONS[access].has(p);
        assert.equal(can(t, p, { projectId: 'prj_1', environmentId: 'env_1' }), granted, `${access} ${p}`);
        assert.equal(can(t, p, { projectId: 'prj_2', environmentId: 'env_1' }), false);
        assert.equal(can(t, p, { projectId: 'prj_1', environmentId: 'env_2' }), false);
        assert.equal(can(t, p, { projectId: 'prj_1' }), granted);
        assert.equal(can(t, p), granted);
      }
    }
    assert.ok(!TOKEN_ACCESS_PERMISSIONS.write.has('token:manage'));
    assert.ok(!TOKEN_ACCESS_PERMISSIONS.read.has('secret:write'));
  });

  it('denies by default: unknown principal kinds, roles and accesses get nothing', () => {
    const odd = { type: 'robot', orgId: 'org_1' } as unknown as Principal;
    const badRole = { ...user('owner'), role: 'superuser' } as unknown as Principal;
    const badAccess = { ...token('write'), scope: { grants: [{ projectId: 'prj_1', environmentId: 'env_1' }], access: 'admin' } } as unknown as Principal;
    for (const p of PERMISSIONS) {
      assert.equal(can(odd, p), false);
      assert.equal(can(badRole, p), false);
      assert.equal(can(badAccess, p, { projectId: 'prj_1', environmentId: 'env_1' }), false);
    }
  });

  it('visibility: users see every project; a token sees its project and only its environment', () => {
    assert.equal(canSeeProject(user('viewer'), 'prj_9'), true);
    assert.equal(canSeeEnvironment(user('viewer'), 'prj_9', 'env_9'), true);
    assert.equal(canSeeProject(token('read'), 'prj_1'), true);
    assert.equal(canSeeProject(token('read'), 'prj_2'), false);
    assert.equal(canSeeEnvironment(token('read'), 'prj_1', 'env_1'), true);
    assert.equal(canSeeEnvironment(token('read'), 'prj_1', 'env_2'), false);
    assert.equal(canSeeEnvironment(token('write'), 'prj_2', 'env_1'), false);
  });
});
