import type { Insertable } from 'kysely';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

export type AuditRow = Insertable<Database['audit_events']>;

export function insertAuditEvent(db: Db, row: AuditRow): Promise<unknown> {
  return db.insertInto('audit_events').values(row).execute();
}

export function listAuditEvents(db: Db, orgId: string, limit: number, beforeId: number | undefined) {
  let q = db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
  if (beforeId !== undefined) q = q.where('id', '<', beforeId);
  return q.orderBy('id', 'desc').limit(limit).execute();
}
