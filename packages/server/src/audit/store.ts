import type { Insertable } from 'kysely';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

export type AuditRow = Insertable<Database['audit_events']>;

export function listAuditEvents(db: Db, orgId: string, limit: number, beforeId: number | undefined) {
  let q = db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
  if (beforeId !== undefined) q = q.where('id', '<', beforeId);
  return q.orderBy('id', 'desc').limit(limit).execute();
}

/** Column order of `insertAuditEventQuery`'s parameters. */
export const AUDIT_COLUMNS = [
  'org_id', 'at', 'action', 'outcome', 'actor_type', 'actor_id', 'target_type', 'target_id', 'target_name', 'ip', 'request_id', 'details',
] as const;

/**
 * The INSERT of `values.length / AUDIT_COLUMNS.length` rows, unexecuted, each row's values in
 * AUDIT_COLUMNS order: for a PreparedQuery (one per row count).
 */
export function insertAuditEventsQuery(db: Db, ...values: unknown[]) {
  const rows: AuditRow[] = [];
  for (let at = 0; at < values.length; at += AUDIT_COLUMNS.length) {
    rows.push(Object.fromEntries(AUDIT_COLUMNS.map((c, i) => [c, values[at + i]])) as AuditRow);
  }
  return db.insertInto('audit_events').values(rows);
}
