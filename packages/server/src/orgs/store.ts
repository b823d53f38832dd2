import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

export function insertOrg(db: Db, row: { id: string; name: string; now: number }): Promise<unknown> {
  return db
    .insertInto('orgs')
    .values({
      id: row.id,
      name: row.name,
      created_at: row.now,
      require_2fa: 'off',
      session_limit: null,
      password_min_length: null,
      password_min_score: null,
      password_require_classes: null,
      open_signup: 0,
      signup_domains: null,
      signup_role: 'viewer',
      audit_retention_days: null,
    })
    .execute();
}

export function findOrg(db: Db, id: string) {
  return db.selectFrom('orgs').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

export const ORG_SETTING_COLUMNS = [
  'require_2fa',
  'session_limit',
  'password_min_length',
  'password_min_score',
  'password_require_classes',
  'open_signup',
  'signup_domains',
  'signup_role',
  'audit_retention_days',
] as const;
export type OrgSettingsRow = Pick<Database['orgs'], (typeof ORG_SETTING_COLUMNS)[number]>;

export function findOrgSettings(db: Db, id: string): Promise<OrgSettingsRow | undefined> {
  return db.selectFrom('orgs').select(ORG_SETTING_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export function updateOrgSettings(db: Db, id: string, values: Partial<OrgSettingsRow>): Promise<unknown> {
  return db.updateTable('orgs').set(values).where('id', '=', id).execute();
}

/** An org by id, or by exact name when exactly one org has it. */
export async function findOrgByRef(db: Db, ref: string): Promise<{ id: string; name: string } | undefined> {
  const byId = await findOrg(db, ref);
  if (byId) return byId;
  const named = await db.selectFrom('orgs').select(['id', 'name']).where('name', '=', ref).limit(2).execute();
  return named.length === 1 ? named[0] : undefined;
}

/** The instance's org when it has exactly one. */
export async function findSoleOrg(db: Db): Promise<{ id: string; name: string } | undefined> {
  const orgs = await db.selectFrom('orgs').select(['id', 'name']).limit(2).execute();
  return orgs.length === 1 ? orgs[0] : undefined;
}
