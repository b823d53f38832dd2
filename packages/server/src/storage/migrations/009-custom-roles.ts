import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * Issue 4: custom roles and per-project role overrides.
 * - `custom_roles`: an org's own roles; `rules` is a JSON array of `{permissions, projects,
 *   environments}` (access/member-access.ts), projects by id, environments by name.
 * - `memberships.role_id` (and `invitations.role_id`): set when `role` is `custom`, the custom role
 *   the member holds (or the invitation gives).
 * - `member_project_roles`: a member's role inside one project (a built-in role, or `custom` with
 *   `role_id`), replacing their org role's project permissions there.
 * A custom role in use is never deleted (409 role_in_use), so `role_id` keeps pointing at a row.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  await db.schema
    .createTable('custom_roles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('rules', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addUniqueConstraint('custom_roles_org_name', ['org_id', 'name'])
    .execute();

  await db.schema.alterTable('memberships').addColumn('role_id', 'text', (c) => c.references('custom_roles.id')).execute();
  // A live invitation keeps its role from deletion (role_in_use); a spent one lets go of it.
  await db.schema.alterTable('invitations').addColumn('role_id', 'text', (c) => c.references('custom_roles.id').onDelete('set null')).execute();

  await db.schema
    .createTable('member_project_roles')
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('role_id', 'text', (c) => c.references('custom_roles.id'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addPrimaryKeyConstraint('member_project_roles_pk', ['org_id', 'user_id', 'project_id'])
    .execute();
  await db.schema.createIndex('member_project_roles_project').on('member_project_roles').column('project_id').execute();
}
