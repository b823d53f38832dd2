/**
 * The permission catalog: every action a caller can be allowed, in one place (docs/permissions.md
 * lists the same; a test keeps them equal). Roles and token kinds are sets of these.
 */
export const PERMISSIONS = [
  'project:read',
  'project:create',
  'project:delete',
  'environment:manage',
  'secret:read_keys',
  'secret:read_values',
  'secret:write',
  'secret:delete',
  'member:read',
  'member:manage',
  'role:manage',
  'token:manage',
  'audit:read',
  'settings:manage',
  'billing:manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

const ALL = new Set<Permission>(PERMISSIONS);

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  owner: ALL,
  admin: new Set(PERMISSIONS.filter((p) => p !== 'billing:manage')),
  developer: new Set<Permission>([
    'project:read',
    'project:create',
    'environment:manage',
    'secret:read_keys',
    'secret:read_values',
    'secret:write',
    'secret:delete',
    'member:read',
  ]),
  // A viewer sees keys and metadata, never values.
  viewer: new Set<Permission>(['project:read', 'secret:read_keys', 'member:read']),
};

/** What an API token may do inside the one project/environment it is scoped to. */
export const TOKEN_ACCESS = ['read', 'write'] as const;
export type TokenAccess = (typeof TOKEN_ACCESS)[number];

export const TOKEN_ACCESS_PERMISSIONS: Record<TokenAccess, ReadonlySet<Permission>> = {
  read: new Set<Permission>(['project:read', 'secret:read_keys', 'secret:read_values']),
  write: new Set<Permission>(['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write', 'secret:delete']),
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
