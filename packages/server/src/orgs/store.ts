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
    })
    .execute();
}

export function findOrg(db: Db, id: string) {
  return db.selectFrom('orgs').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

export const ORG_SETTING_COLUMNS = ['require_2fa', 'session_limit', 'password_min_length', 'password_min_score', 'password_require_classes'] as const;
export type OrgSettingsRow = Pick<Database['orgs'], (typeof ORG_SETTING_COLUMNS)[number]>;

export function findOrgSettings(db: Db, id: string): Promise<OrgSettingsRow | undefined> {
  return db.selectFrom('orgs').select(ORG_SETTING_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export function updateOrgSettings(db: Db, id: string, values: Partial<OrgSettingsRow>): Promise<unknown> {
  return db.updateTable('orgs').set(values).where('id', '=', id).execute();
}
