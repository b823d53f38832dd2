import type { Db } from '../storage/database.js';

/** SQL for the `data_keys` table. Keys arrive here already wrapped; this file never sees a plain key. */
export function insertDataKey(
  db: Db,
  row: { orgId: string; version: number; wrappedKey: Buffer; nonce: Buffer; state: 'active' | 'retired'; now: number },
): Promise<unknown> {
  return db
    .insertInto('data_keys')
    .values({ org_id: row.orgId, version: row.version, wrapped_key: row.wrappedKey, nonce: row.nonce, state: row.state, created_at: row.now })
    .execute();
}

/** The org's active data key, unexecuted (for a PreparedQuery: it runs on every write of a value). */
export function findActiveDataKeyQuery(db: Db, orgId: string) {
  return db.selectFrom('data_keys').select(['version', 'wrapped_key', 'nonce']).where('org_id', '=', orgId).where('state', '=', 'active');
}

export function findDataKey(db: Db, orgId: string, version: number) {
  return db
    .selectFrom('data_keys')
    .select(['version', 'wrapped_key', 'nonce'])
    .where('org_id', '=', orgId)
    .where('version', '=', version)
    .executeTakeFirst();
}

export async function maxDataKeyVersion(db: Db, orgId: string): Promise<number> {
  const row = await db
    .selectFrom('data_keys')
    .select((eb) => eb.fn.max('version').as('v'))
    .where('org_id', '=', orgId)
    .executeTakeFirst();
  return Number(row?.v ?? 0);
}

export function retireDataKeys(db: Db, orgId: string): Promise<unknown> {
  return db.updateTable('data_keys').set({ state: 'retired' }).where('org_id', '=', orgId).where('state', '=', 'active').execute();
}
