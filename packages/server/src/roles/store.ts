import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

export type CustomRoleRow = Database['custom_roles'];

/** A member's org role and overrides with the rules of the custom roles they name, in one read. */
export async function findMemberRoles(db: Db, orgId: string, userId: string) {
  const member = await db
    .selectFrom('memberships')
    .leftJoin('custom_roles', (j) => j.onRef('custom_roles.id', '=', 'memberships.role_id').onRef('custom_roles.org_id', '=', 'memberships.org_id'))
    .select(['memberships.role', 'memberships.role_id', 'custom_roles.name as role_name', 'custom_roles.rules'])
    .where('memberships.org_id', '=', orgId)
    .where('memberships.user_id', '=', userId)
    .executeTakeFirst();
  if (!member) return undefined;
  const overrides = await listOverrides(db, orgId, { userId });
  return { member, overrides };
}

/** Per-project overrides of an org, of one member or in one project, with role names and rules. */
export function listOverrides(db: Db, orgId: string, of: { userId?: string; projectId?: string }) {
  let q = db
    .selectFrom('member_project_roles as o')
    .innerJoin('users', 'users.id', 'o.user_id')
    .innerJoin('projects', 'projects.id', 'o.project_id')
    .leftJoin('custom_roles', (j) => j.onRef('custom_roles.id', '=', 'o.role_id').onRef('custom_roles.org_id', '=', 'o.org_id'))
    .select(['o.user_id', 'users.email', 'o.project_id', 'projects.name as project_name', 'o.role', 'o.role_id', 'custom_roles.name as role_name', 'custom_roles.rules', 'o.created_at'])
    .where('o.org_id', '=', orgId);
  if (of.userId !== undefined) q = q.where('o.user_id', '=', of.userId);
  if (of.projectId !== undefined) q = q.where('o.project_id', '=', of.projectId);
  return q.orderBy('projects.name').orderBy('users.email').execute();
}

export function setOverride(db: Db, row: Database['member_project_roles']): Promise<unknown> {
  return db
    .insertInto('member_project_roles')
    .values(row)
    .onConflict((oc) => oc.columns(['org_id', 'user_id', 'project_id']).doUpdateSet({ role: row.role, role_id: row.role_id, created_at: row.created_at, created_by: row.created_by }))
    .execute();
}

export async function clearOverride(db: Db, orgId: string, userId: string, projectId: string): Promise<boolean> {
  const r = await db.deleteFrom('member_project_roles').where('org_id', '=', orgId).where('user_id', '=', userId).where('project_id', '=', projectId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export function clearMemberOverrides(db: Db, orgId: string, userId: string): Promise<unknown> {
  return db.deleteFrom('member_project_roles').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
}

export function listRoles(db: Db, orgId: string) {
  return db.selectFrom('custom_roles').selectAll().where('org_id', '=', orgId).orderBy('name').execute();
}

/** A role of the org by id or name; another org's role is not found, like an unknown one. */
export function findRole(db: Db, orgId: string, ref: string) {
  return db
    .selectFrom('custom_roles')
    .selectAll()
    .where('org_id', '=', orgId)
    .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
    .orderBy('id')
    .executeTakeFirst();
}

export function insertRole(db: Db, row: CustomRoleRow): Promise<unknown> {
  return db.insertInto('custom_roles').values(row).execute();
}

export function updateRole(db: Db, orgId: string, id: string, change: Pick<CustomRoleRow, 'name' | 'description' | 'rules' | 'updated_at' | 'updated_by'>): Promise<unknown> {
  return db.updateTable('custom_roles').set(change).where('org_id', '=', orgId).where('id', '=', id).execute();
}

export function deleteRole(db: Db, orgId: string, id: string): Promise<unknown> {
  return db.deleteFrom('custom_roles').where('org_id', '=', orgId).where('id', '=', id).execute();
}

/** How many memberships, overrides and live invitations name the role. */
export async function countRoleUses(db: Db, orgId: string, id: string, now: number): Promise<{ members: number; overrides: number; invitations: number }> {
  const [m, o, i] = await Promise.all([
    db.selectFrom('memberships').select((eb) => eb.fn.countAll<number | string>().as('n')).where('org_id', '=', orgId).where('role_id', '=', id).executeTakeFirstOrThrow(),
    db.selectFrom('member_project_roles').select((eb) => eb.fn.countAll<number | string>().as('n')).where('org_id', '=', orgId).where('role_id', '=', id).executeTakeFirstOrThrow(),
    db
      .selectFrom('invitations')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('org_id', '=', orgId)
      .where('role_id', '=', id)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow(),
  ]);
  return { members: Number(m.n), overrides: Number(o.n), invitations: Number(i.n) };
}

/** The members whose access depends on the role (to drop their cached access after a change). */
export async function usersOfRole(db: Db, orgId: string, id: string): Promise<string[]> {
  const [m, o] = await Promise.all([
    db.selectFrom('memberships').select('user_id').where('org_id', '=', orgId).where('role_id', '=', id).execute(),
    db.selectFrom('member_project_roles').select('user_id').where('org_id', '=', orgId).where('role_id', '=', id).execute(),
  ]);
  return [...new Set([...m, ...o].map((r) => r.user_id))];
}
