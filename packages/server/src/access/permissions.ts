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
  'ssh:manage',
  'scan:run',
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

/**
 * The kinds of API token (issue 4). A token acts only inside its grants (projects, or single
 * environments of them), never on the org itself: no token manages members, roles, tokens,
 * settings or billing, and none creates or deletes projects or environments (that would change
 * what its own grant means). `admin` is therefore "everything about secrets and environments'
 * contents the creator could do in the granted projects".
 */
export const TOKEN_TYPES = ['read-only', 'deploy', 'admin', 'custom'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];

/** The permissions a token may hold at all (`custom` picks among these). */
export const TOKEN_GRANTABLE: readonly Permission[] = ['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write', 'secret:delete'];

export const TOKEN_TYPE_PERMISSIONS: Record<Exclude<TokenType, 'custom'>, ReadonlySet<Permission>> = {
  'read-only': new Set<Permission>(['project:read', 'secret:read_keys', 'secret:read_values']),
  // A deploy pipeline fetches values and nothing else: it cannot list projects or read keys alone.
  deploy: new Set<Permission>(['secret:read_values']),
  admin: new Set<Permission>(TOKEN_GRANTABLE),
};

/** The original `access` of a token (before issue 4), kept as a shorthand of the public contract. */
export const TOKEN_ACCESS = ['read', 'write'] as const;
export type TokenAccess = (typeof TOKEN_ACCESS)[number];

export const TOKEN_ACCESS_PERMISSIONS: Record<TokenAccess, ReadonlySet<Permission>> = {
  read: TOKEN_TYPE_PERMISSIONS['read-only'],
  write: new Set<Permission>(['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write', 'secret:delete']),
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
