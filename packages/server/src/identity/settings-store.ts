import type { Db } from '../storage/database.js';

/** Instance-wide settings (the setup latch and the setup token's digest). */
/** The org made at setup, whose owners operate the instance (orgs/quotas.ts). */
export const OPERATOR_ORG_SETTING = 'operator_org';

export function getSetting(db: Db, name: string) {
  return db.selectFrom('instance_settings').select('value').where('name', '=', name).executeTakeFirst();
}

export function putSetting(db: Db, name: string, value: string, now: number): Promise<unknown> {
  return db
    .insertInto('instance_settings')
    .values({ name, value, updated_at: now })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated_at: now }))
    .execute();
}

/** Inserts only if absent; a second caller fails on the primary key (used as a once-only latch). */
export function insertSetting(db: Db, name: string, value: string, now: number): Promise<unknown> {
  return db.insertInto('instance_settings').values({ name, value, updated_at: now }).execute();
}

export function deleteSetting(db: Db, name: string): Promise<unknown> {
  return db.deleteFrom('instance_settings').where('name', '=', name).execute();
}
