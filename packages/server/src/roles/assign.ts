import type { Db } from '../storage/database.js';
import { roleNotFound } from './service.js';
import { builtinResolved, parseStoredRules, type ResolvedRole, type RoleRef } from './rules.js';
import { findRole } from './store.js';

/** A role reference from a request, resolved in the org (another org's role is not found). */
export async function resolveRoleRef(db: Db, orgId: string, ref: RoleRef): Promise<ResolvedRole> {
  if (ref.role !== 'custom') return builtinResolved(ref.role);
  const row = await findRole(db, orgId, ref.roleId);
  if (!row) throw roleNotFound();
  return { role: 'custom', roleId: row.id, label: row.id, name: row.name, rules: parseStoredRules(row.rules) };
}

/** How the audit log names a stored role. */
export function roleLabel(role: string, roleId: string | null): string {
  return role === 'custom' && roleId !== null ? roleId : role;
}
