import { builtinRules, compileAccess, covers, memberCan, memberReaches, type MemberAccess, type RoleRule } from './member-access.js';
import { ROLE_PERMISSIONS, ROLES, type Permission, type Role } from './permissions.js';
import type { Principal, TokenGrant } from './principal.js';

/** Where a permission is asked for: a project, and one of its environments (both by id and name). */
export interface Scope {
  projectId?: string;
  environment?: { id: string; name: string } | undefined;
}

/**
 * The one decision: may this principal use this permission on this scope? Deny by default: an
 * unknown principal kind, a permission outside the member's access, or a scope outside a token's
 * grant is "no". An empty scope asks "anywhere at all?" (used before listing, which then filters);
 * a project without an environment asks about the project (environment-narrowed rules count), so
 * secret permissions are always asked with their environment.
 */
export function can(principal: Principal, permission: Permission, scope: Scope = {}): boolean {
  switch (principal.type) {
    case 'user':
      return principal.access ? memberCan(principal.access, permission, accessScope(scope)) : false;
    case 'token': {
      // A malformed scope (no permission set) grants nothing.
      if (!(principal.scope?.permissions?.has(permission) ?? false)) return false;
      // Never more than its creator could do, there, now.
      if (principal.creatorAccess !== null && !memberCan(principal.creatorAccess, permission, accessScope(scope))) return false;
      if (scope.projectId === undefined) return true;
      return grantsInclude(principal.scope.grants, scope.projectId, scope.environment?.id);
    }
    default:
      return false;
  }
}

function accessScope(scope: Scope) {
  return { projectId: scope.projectId, environmentName: scope.environment?.name };
}

function grantsInclude(grants: readonly TokenGrant[], projectId: string, environmentId: string | undefined): boolean {
  return grants.some((g) => g.projectId === projectId && (environmentId === undefined || g.environmentId === null || g.environmentId === environmentId));
}

/**
 * Whether the principal may know that a project exists at all (else it is answered as not found):
 * a member with any rule reaching it; a token with a grant there (a deploy token, which may not
 * read project metadata, must still reach the values under the project's path) whose creator still
 * reaches it. The route's permission then decides.
 */
export function canSeeProject(principal: Principal, projectId: string): boolean {
  return canSee(principal, projectId, undefined);
}

/** Whether the principal may know that an environment exists. */
export function canSeeEnvironment(principal: Principal, projectId: string, environment: { id: string; name: string }): boolean {
  return canSee(principal, projectId, environment);
}

function canSee(principal: Principal, projectId: string, environment: { id: string; name: string } | undefined): boolean {
  if (principal.type === 'token') {
    if (principal.creatorAccess !== null && !memberReaches(principal.creatorAccess, projectId, environment?.name)) return false;
    return grantsInclude(principal.scope.grants, projectId, environment?.id);
  }
  return principal.type === 'user' && principal.access !== undefined && memberReaches(principal.access, projectId, environment?.name);
}

/** A built-in role's access, as a member holding it without overrides has it. */
export function builtinAccess(role: Role): MemberAccess {
  return compileAccess(builtinRules(role));
}

/**
 * Whether a member with role `grantor` may give `role` to someone: only when every permission of
 * `role` is the grantor's own (`covers`), so nobody hands out more than they hold. An admin cannot
 * make an owner (billing); a developer, who cannot manage members at all, could not make an admin
 * even if a route let them try.
 */
export function canGrantRole(grantor: Role, role: Role): boolean {
  if (!ROLE_PERMISSIONS[grantor] || !ROLE_PERMISSIONS[role]) return false;
  return canGrant(builtinAccess(grantor), builtinRules(role));
}

/**
 * Whether a member may give these rules (a role, built-in or custom, to someone; a custom role's
 * definition; with `inProject`, a role as an override of that project): only what their own
 * access holds, rule by rule (`covers`, conservative: a grant split across several of the
 * grantor's rules is refused).
 */
export function canGrant(grantor: MemberAccess, rules: readonly RoleRule[], inProject?: string): boolean {
  return covers(grantor, rules, inProject);
}

/** Permissions that run an organization rather than use it. */
const ADMINISTRATIVE: readonly Permission[] = ['member:manage', 'role:manage', 'settings:manage', 'token:manage', 'audit:read', 'billing:manage', 'ssh:manage', 'scan:run'];

/**
 * The roles open sign-up may give: none that runs the org. Anyone with an allowed address can sign
 * up, so an administrative role there would hand the org to strangers (or to whoever controls one
 * mailbox of the domain).
 */
export function isSelfSignupRole(role: Role): boolean {
  const granted = ROLE_PERMISSIONS[role];
  return granted !== undefined && !ADMINISTRATIVE.some((p) => granted.has(p));
}

/** Whether a member's access runs the org (any administrative permission): for "2FA for admins". */
export function runsTheOrg(access: MemberAccess): boolean {
  return ADMINISTRATIVE.some((p) => access.org.has(p));
}

export const SELF_SIGNUP_ROLES: readonly Role[] = ROLES.filter(isSelfSignupRole);

/** Which actions need a recent proof of identity from a signed-in user (see http/access.ts). */
export type StepUp = 'always' | 'protected-environment';

export interface StepUpPolicy {
  maxAgeMs: number;
  /** Environment names whose values need a recent sign-in to be read. */
  environments: ReadonlySet<string>;
}

/**
 * Whether this principal must re-authenticate before this action. The one rule, used by the access
 * hook for a route and by the reference resolver for each environment a value reaches into. API
 * tokens are never held to it: they never sign in, and their scope is their limit.
 */
export function stepUpRequired(principal: Principal, stepUp: StepUp, environmentName: string | undefined, policy: StepUpPolicy, now: number): boolean {
  if (principal.type !== 'user' || now - principal.authenticatedAt <= policy.maxAgeMs) return false;
  return stepUp === 'always' || (environmentName !== undefined && policy.environments.has(environmentName));
}

export function stepUpPolicyOf(config: { stepUpS: number; stepUpEnvironments: readonly string[] }): StepUpPolicy {
  return { maxAgeMs: config.stepUpS * 1000, environments: new Set(config.stepUpEnvironments) };
}
