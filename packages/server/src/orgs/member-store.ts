import type { Db } from '../storage/database.js';

/** An org's members with what the members list shows; never a password hash or a token digest. */
export function listMembers(db: Db, orgId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .leftJoin('user_totp', 'user_totp.user_id', 'memberships.user_id')
    .leftJoin('custom_roles', (j) => j.onRef('custom_roles.id', '=', 'memberships.role_id').onRef('custom_roles.org_id', '=', 'memberships.org_id'))
    .select((eb) => [
      'memberships.user_id',
      'users.email',
      'memberships.role',
      'memberships.role_id',
      'custom_roles.name as role_name',
      'memberships.created_at',
      'user_totp.state as totp_state',
      // The newest activity of any of the member's sessions in this org (written at most once a minute).
      eb
        .selectFrom('sessions')
        .select((s) => s.fn.max('sessions.last_active_at').as('last'))
        .whereRef('sessions.user_id', '=', 'memberships.user_id')
        .whereRef('sessions.org_id', '=', 'memberships.org_id')
        .as('last_active_at'),
    ])
    .where('memberships.org_id', '=', orgId)
    .orderBy('memberships.created_at')
    .orderBy('memberships.user_id')
    .execute();
}

/** One member of the org, or undefined (unknown users and other orgs' members alike). */
export function findMember(db: Db, orgId: string, userId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['memberships.user_id', 'users.email', 'memberships.role'])
    .where('memberships.org_id', '=', orgId)
    .where('memberships.user_id', '=', userId)
    .executeTakeFirst();
}

/**
 * Serialises changes to an org's memberships: a no-op write to the org's row, which PostgreSQL
 * holds locked until the transaction ends (SQLite already runs one writer at a time). Without it
 * two owners demoting each other at once would each count the other and leave the org ownerless.
 */
export async function lockMemberships(db: Db, orgId: string): Promise<void> {
  await db.updateTable('orgs').set((eb) => ({ name: eb.ref('name') })).where('id', '=', orgId).execute();
}

export async function countOwners(db: Db, orgId: string): Promise<number> {
  const row = await db
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('org_id', '=', orgId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function updateMemberRole(db: Db, orgId: string, userId: string, role: string, roleId: string | null): Promise<unknown> {
  return db.updateTable('memberships').set({ role, role_id: roleId }).where('org_id', '=', orgId).where('user_id', '=', userId).execute();
}

export function deleteMembership(db: Db, orgId: string, userId: string): Promise<unknown> {
  return db.deleteFrom('memberships').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
}

/**
 * Every live secret key of the org with its project and environment names: what a member may have
 * seen (the caller filters by their access), for rotation after they leave. Keys only.
 */
export function listLiveSecretKeys(db: Db, orgId: string) {
  return db
    .selectFrom('secrets')
    .innerJoin('projects', 'projects.id', 'secrets.project_id')
    .innerJoin('environments', 'environments.id', 'secrets.environment_id')
    .select(['projects.id as project_id', 'projects.name as project', 'environments.name as environment', 'secrets.key'])
    .where('secrets.org_id', '=', orgId)
    .where('secrets.deleted_at', 'is', null)
    .orderBy('projects.name')
    .orderBy('environments.name')
    .orderBy('secrets.key')
    .execute();
}
