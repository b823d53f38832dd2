import type { Role, RoleChoice } from '@keynest/sdk';
import { UsageError } from '../errors.js';

const ROLES: readonly Role[] = ['owner', 'admin', 'developer', 'viewer'];

/** A built-in role by its name; anything else names a custom role (the server says if none). */
export function roleChoice(role: string): RoleChoice {
  if (role.trim() === '') throw new UsageError('the role is empty');
  return (ROLES as readonly string[]).includes(role) ? { role: role as Role } : { roleId: role };
}
