import { ROLE_PERMISSIONS, TOKEN_ACCESS_PERMISSIONS, type Permission } from './permissions.js';
import type { Principal } from './principal.js';

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
      const grant = principal.scope;
      if (!TOKEN_ACCESS_PERMISSIONS[grant.access]?.has(permission)) return false;
      if (scope.projectId !== undefined && scope.projectId !== grant.projectId) return false;
      if (scope.environmentId !== undefined && scope.environmentId !== grant.environmentId) return false;
      return true;
    }
    default:
      return false;
  }
}

/** Whether the principal may know that a project exists at all (else it is answered as not found). */
export function canSeeProject(principal: Principal, projectId: string): boolean {
  return can(principal, 'project:read', { projectId });
}

/** Whether the principal may know that an environment exists. */
export function canSeeEnvironment(principal: Principal, projectId: string, environmentId: string): boolean {
  if (principal.type === 'token') return principal.scope.projectId === projectId && principal.scope.environmentId === environmentId;
  return can(principal, 'project:read', { projectId, environmentId });
}
