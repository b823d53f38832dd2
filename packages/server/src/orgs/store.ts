import type { Db } from '../storage/database.js';

export function insertOrg(db: Db, row: { id: string; name: string; now: number }): Promise<unknown> {
  return db.insertInto('orgs').values({ id: row.id, name: row.name, created_at: row.now }).execute();
}

export function findOrg(db: Db, id: string) {
  return db.selectFrom('orgs').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}
