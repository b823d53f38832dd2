import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PERMISSIONS, ROLE_PERMISSIONS, ROLES, TOKEN_ACCESS, TOKEN_ACCESS_PERMISSIONS, isRole, type Permission } from './permissions.js';
import { compileAccess, ENVIRONMENT_LEVEL, ORG_LEVEL, PROJECT_LEVEL, type RoleRule } from './member-access.js';
import { builtinAccess, can, canGrant, canGrantRole, canSeeEnvironment, canSeeProject, isSelfSignupRole, SELF_SIGNUP_ROLES } from './policy.js';
import type { Principal, TokenPrincipal, UserPrincipal } from './principal.js';

const docs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/permissions.md');

const user = (role: Exclude<UserPrincipal['role'], 'custom'>): UserPrincipal => ({ type: 'user', orgId: 'org_1', userId: 'usr_1', email: 'a@b.c', role, access: builtinAccess(role), sessionId: 'ses_1', authenticatedAt: 0, mustEnrolTwoFactor: false });
const custom = (rules: RoleRule[], overrides: [string, RoleRule[]][] = []): UserPrincipal => ({ ...user('viewer'), role: 'custom', access: compileAccess(rules, new Map(overrides)) });
const ENV1 = { id: 'env_1', name: 'development' };
const ENV2 = { id: 'env_2', name: 'production' };
const token = (access: 'read' | 'write'): TokenPrincipal => ({
  type: 'token',
  orgId: 'org_1',
  tokenId: 'tok_1',
  name: 't',
  createdBy: 'usr_1',
  owner: 'user',
  scope: { type: access === 'read' ? 'read-only' : 'custom', access, permissions: TOKEN_ACCESS_PERMISSIONS[access], grants: [{ projectId: 'prj_1', environmentId: 'env_1' }] },
  creatorAccess: builtinAccess('owner'),
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
        assert.equal(can(t, p, { projectId: 'prj_1', environment: ENV1 }), granted, `${access} ${p}`);
        assert.equal(can(t, p, { projectId: 'prj_2', environment: ENV1 }), false);
        assert.equal(can(t, p, { projectId: 'prj_1', environment: ENV2 }), false);
        assert.equal(can(t, p, { projectId: 'prj_1' }), granted);
        assert.equal(can(t, p), granted);
      }
    }
    assert.ok(!TOKEN_ACCESS_PERMISSIONS.write.has('token:manage'));
    assert.ok(!TOKEN_ACCESS_PERMISSIONS.read.has('secret:write'));
  });

  it('denies by default: unknown principal kinds, roles and accesses get nothing', () => {
    const odd = { type: 'robot', orgId: 'org_1' } as unknown as Principal;
    const badRole = { ...user('owner'), role: 'superuser', access: undefined } as unknown as Principal;
    const badAccess = { ...token('write'), scope: { grants: [{ projectId: 'prj_1', environmentId: 'env_1' }], access: 'admin' } } as unknown as Principal;
    for (const p of PERMISSIONS) {
      assert.equal(can(odd, p), false);
      assert.equal(can(badRole, p), false);
      assert.equal(can(badAccess, p, { projectId: 'prj_1', environment: ENV1 }), false);
    }
  });

  it('visibility: users see every project; a token sees its project and only its environment', () => {
    assert.equal(canSeeProject(user('viewer'), 'prj_9'), true);
    assert.equal(canSeeEnvironment(user('viewer'), 'prj_9', { id: 'env_9', name: 'x' }), true);
    assert.equal(canSeeProject(token('read'), 'prj_1'), true);
    assert.equal(canSeeProject(token('read'), 'prj_2'), false);
    assert.equal(canSeeEnvironment(token('read'), 'prj_1', ENV1), true);
    assert.equal(canSeeEnvironment(token('read'), 'prj_1', ENV2), false);
    assert.equal(canSeeEnvironment(token('write'), 'prj_2', ENV1), false);
  });

  // The example: values in development and staging, keys only in production.
  const CONTRACTOR: RoleRule[] = [
    { permissions: ['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write'], projects: '*', environments: ['development', 'staging'] },
    { permissions: ['project:read', 'secret:read_keys'], projects: '*', environments: ['production'] },
  ];

  it('the kinds of permission: org-level ones are the issue-4 list, and every permission has one kind', () => {
    assert.deepEqual([...ORG_LEVEL].sort(), ['audit:read', 'billing:manage', 'member:manage', 'member:read', 'project:create', 'role:manage', 'scan:run', 'settings:manage', 'ssh:manage', 'token:manage']);
    for (const p of PERMISSIONS) assert.equal([ORG_LEVEL, PROJECT_LEVEL, ENVIRONMENT_LEVEL].filter((k) => k.has(p)).length, 1, p);
  });

  it('a custom role: permissions by rule, environments by name, org-level permissions only from whole rules', () => {
    const c = custom([...CONTRACTOR, { permissions: ['member:read'], projects: '*', environments: '*' }]);
    assert.equal(can(c, 'secret:read_values', { projectId: 'prj_1', environment: ENV1 }), true);
    assert.equal(can(c, 'secret:read_values', { projectId: 'prj_1', environment: ENV2 }), false);
    assert.equal(can(c, 'secret:read_keys', { projectId: 'prj_1', environment: ENV2 }), true);
    assert.equal(can(c, 'secret:write', { projectId: 'prj_9', environment: { id: 'env_9', name: 'staging' } }), true);
    assert.equal(can(c, 'secret:read_values'), true, 'anywhere at all');
    assert.equal(can(c, 'secret:delete'), false);
    assert.equal(can(c, 'member:read'), true);
    assert.equal(can(c, 'member:manage'), false);
    assert.equal(canSeeEnvironment(c, 'prj_1', { id: 'env_3', name: 'qa' }), false, 'an environment no rule names is hidden');
    assert.equal(canSeeProject(c, 'prj_1'), true);
    // An org-level permission in a narrowed rule counts for nothing (validation refuses it anyway).
    const narrowed = custom([{ permissions: ['member:manage', 'project:read'], projects: ['prj_1'], environments: '*' }]);
    assert.equal(can(narrowed, 'member:manage'), false);
    assert.equal(can(narrowed, 'project:read', { projectId: 'prj_1' }), true);
    assert.equal(canSeeProject(narrowed, 'prj_2'), false);
  });

  it('a project override replaces the project rules there, and only there; org-level permissions stay', () => {
    const dev = compileAccess([{ permissions: ['project:read', 'secret:read_keys', 'secret:read_values', 'member:read'], projects: '*', environments: '*' }], new Map([['prj_1', [{ permissions: ['project:read', 'secret:read_keys'], projects: '*', environments: '*' }]]]));
    const p = { ...user('developer'), access: dev };
    assert.equal(can(p, 'secret:read_values', { projectId: 'prj_1', environment: ENV1 }), false);
    assert.equal(can(p, 'secret:read_values', { projectId: 'prj_2', environment: ENV1 }), true);
    assert.equal(can(p, 'member:read'), true);
  });

  it('a token is cut to its creator’s access in that very project and environment', () => {
    const t = { ...token('read'), scope: { ...token('read').scope, grants: [{ projectId: 'prj_1', environmentId: null }] }, creatorAccess: custom(CONTRACTOR).access };
    assert.equal(can(t, 'secret:read_values', { projectId: 'prj_1', environment: ENV1 }), true);
    assert.equal(can(t, 'secret:read_values', { projectId: 'prj_1', environment: ENV2 }), false);
    assert.equal(can(t, 'secret:read_keys', { projectId: 'prj_1', environment: ENV2 }), true);
  });

  it('granting: only rules the grantor’s own rules cover', () => {
    const contractor = custom(CONTRACTOR).access;
    assert.equal(canGrant(builtinAccess('admin'), CONTRACTOR), true);
    assert.equal(canGrant(builtinAccess('developer'), CONTRACTOR), true);
    assert.equal(canGrant(builtinAccess('viewer'), CONTRACTOR), false);
    assert.equal(canGrant(contractor, [{ permissions: ['secret:read_values'], projects: '*', environments: ['development'] }]), true);
    assert.equal(canGrant(contractor, [{ permissions: ['secret:read_values'], projects: '*', environments: ['production'] }]), false);
    assert.equal(canGrant(contractor, [{ permissions: ['secret:read_values'], projects: '*', environments: '*' }]), false);
    assert.equal(canGrant(contractor, [{ permissions: ['secret:read_values'], projects: ['prj_1'], environments: ['staging'] }]), true);
    assert.equal(canGrant(builtinAccess('admin'), [{ permissions: ['billing:manage'], projects: '*', environments: '*' }]), false);
    // An admin overridden to viewer in prj_1 cannot hand out values there, nor everywhere.
    const limited = compileAccess(builtinAccess('admin').rules.map((r) => ({ ...r })), new Map([['prj_1', [{ permissions: ['project:read', 'secret:read_keys'], projects: '*', environments: '*' }]]]));
    assert.equal(canGrant(limited, [{ permissions: ['secret:read_values'], projects: '*', environments: '*' }]), false);
    assert.equal(canGrant(limited, [{ permissions: ['secret:read_values'], projects: ['prj_2'], environments: '*' }]), true);
    assert.equal(canGrant(limited, [{ permissions: ['secret:read_values'], projects: '*', environments: '*' }], 'prj_1'), false);
    assert.equal(canGrant(limited, [{ permissions: ['secret:read_values'], projects: '*', environments: '*' }], 'prj_2'), true);
  });
});
