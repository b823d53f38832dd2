import { ROLE_PERMISSIONS, ROLES, type Permission, type Role } from './permissions.js';
import type { Principal, TokenGrant } from './principal.js';

export interface Scope {
  projectId?: string;
  environmentId?: string;
}

/**
 * The one decision: may this principal use this permission on this scope? Deny by default: an
 * unknown principal kind, a permission outside the role, or a scope outside a token's grant is "no".
 * An empty scope asks "anywhere at all?" (used before listing, which then filters).
 */
export function can(principal: Principal, permission: Permission, scope: Scope = {}): boolean {
  switch (principal.type) {
    case 'user':
      return ROLE_PERMISSIONS[principal.role]?.has(permission) ?? false;
    case 'token': {
      // A malformed scope (no permission set) grants nothing.
      if (!(principal.scope?.permissions?.has(permission) ?? false)) return false;
      if (scope.projectId === undefined) return true;
      return grantsInclude(principal.scope.grants, scope.projectId, scope.environmentId);
    }
    default:
      return false;
  }
}

function grantsInclude(grants: readonly TokenGrant[], projectId: string, environmentId: string | undefined): boolean {
  return grants.some((g) => g.projectId === projectId && (environmentId === undefined || g.environmentId === null || g.environmentId === environmentId));
}

/**
 * Whether the principal may know that a project exists at all (else it is answered as not found).
 * For a token this is its grant alone: a deploy token, which may not read project metadata, must
 * still reach the values under the project's path; the route's permission then decides.
 */
export function canSeeProject(principal: Principal, projectId: string): boolean {
  if (principal.type === 'token') return grantsInclude(principal.scope.grants, projectId, undefined);
  return can(principal, 'project:read', { projectId });
}

/** Whether the principal may know that an environment exists. */
export function canSeeEnvironment(principal: Principal, projectId: string, environmentId: string): boolean {
  if (principal.type === 'token') return grantsInclude(principal.scope.grants, projectId, environmentId);
  return can(principal, 'project:read', { projectId, environmentId });
}

/**
 * Whether a member with role `grantor` may give `role` to someone (an invitation now, role changes in
 * issue 4): only when every permission of `role` is the grantor's own, so nobody hands out more than
 * they hold. An admin cannot make an owner (billing); a developer, who cannot manage members at
 * all, could not make an admin even if a route let them try.
 */
export function canGrantRole(grantor: Role, role: Role): boolean {
  const own = ROLE_PERMISSIONS[grantor];
  const wanted = ROLE_PERMISSIONS[role];
  if (!own || !wanted) return false;
  for (const p of wanted) if (!own.has(p)) return false;
  return true;
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
