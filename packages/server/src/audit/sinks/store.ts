import type { Selectable } from 'kysely';
import type { Db } from '../../storage/database.js';
import type { Database } from '../../storage/schema.js';
import type { StoredAuditRow } from '../store.js';

/** SQL of audit streaming: org sinks, every sink's cursor and lease, and the records past a cursor. */

export type SinkRow = Selectable<Database['audit_sinks']>;
export type CursorRow = Selectable<Database['audit_sink_cursors']>;

export function insertSink(db: Db, row: SinkRow): Promise<unknown> {
  return db.insertInto('audit_sinks').values(row).execute();
}

export function orgSinks(db: Db, orgId: string): Promise<SinkRow[]> {
  return db.selectFrom('audit_sinks').selectAll().where('org_id', '=', orgId).orderBy('created_at').orderBy('id').execute();
}

export function orgSink(db: Db, orgId: string, id: string): Promise<SinkRow | undefined> {
  return db.selectFrom('audit_sinks').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** Every org's sinks: what the dispatcher delivers to (it runs as `system`). */
export function allOrgSinks(db: Db): Promise<SinkRow[]> {
  return db.selectFrom('audit_sinks').selectAll().orderBy('id').execute();
}

export async function countOrgSinks(db: Db, orgId: string): Promise<number> {
  const r = await db.selectFrom('audit_sinks').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId).executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Removes the sink and its cursor; false when the org has no such sink. */
export async function deleteSink(db: Db, orgId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('audit_sinks').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  await db.deleteFrom('audit_sink_cursors').where('org_id', '=', orgId).where('sink_id', '=', id).execute();
  return Number(r.numDeletedRows) > 0;
}

/** A sink's cursor, created at `start` if it has none yet (an instance sink's first run). */
export async function ensureCursor(db: Db, c: { sinkId: string; orgId: string | null; lastId: number; lastSeq: number; now: number }): Promise<void> {
  await db
    .insertInto('audit_sink_cursors')
    .values({ sink_id: c.sinkId, org_id: c.orgId, last_id: c.lastId, last_seq: c.lastSeq, updated_at: c.now })
    .onConflict((oc) => oc.column('sink_id').doNothing())
    .execute();
}

export function cursorOf(db: Db, sinkId: string): Promise<CursorRow | undefined> {
  return db.selectFrom('audit_sink_cursors').selectAll().where('sink_id', '=', sinkId).executeTakeFirst();
}

export function cursorsOf(db: Db, sinkIds: readonly string[]): Promise<CursorRow[]> {
  if (sinkIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('audit_sink_cursors').selectAll().where('sink_id', 'in', [...sinkIds]).execute();
}

/**
 * Takes (or renews) the right to deliver the sink until `until`: free, expired, or already ours —
 * or anyone's when `takeOver` (SQLite, where one process owns the database file: a lease left by
 * a killed process is that process's own). Several instances sharing PostgreSQL then deliver each
 * sink one at a time.
 */
export async function claimLease(db: Db, c: { sinkId: string; owner: string; now: number; until: number; takeOver: boolean }): Promise<boolean> {
  let q = db.updateTable('audit_sink_cursors').set({ lease_owner: c.owner, lease_until: c.until }).where('sink_id', '=', c.sinkId);
  if (!c.takeOver) q = q.where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '=', c.owner), eb('lease_until', '<', c.now)]));
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export function releaseLease(db: Db, sinkId: string, owner: string): Promise<unknown> {
  return db.updateTable('audit_sink_cursors').set({ lease_owner: null, lease_until: null }).where('sink_id', '=', sinkId).where('lease_owner', '=', owner).execute();
}

/** Moves the cursor after a delivery; false when the lease was lost meanwhile (or the sink removed). */
export async function advanceCursor(db: Db, c: { sinkId: string; owner: string; lastId: number; lastSeq: number; now: number }): Promise<boolean> {
  const r = await db
    .updateTable('audit_sink_cursors')
    .set({ last_id: c.lastId, last_seq: c.lastSeq, updated_at: c.now, last_delivered_at: c.now, failures: 0 })
    .where('sink_id', '=', c.sinkId)
    .where('lease_owner', '=', c.owner)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** `error` is a safe text (no URL query, secret or record content: sinks/transport.ts). */
export function recordFailure(db: Db, f: { sinkId: string; owner: string; failures: number; error: string; now: number }): Promise<unknown> {
  return db
    .updateTable('audit_sink_cursors')
    .set({ failures: f.failures, last_error: f.error, last_error_at: f.now, updated_at: f.now })
    .where('sink_id', '=', f.sinkId)
    .where('lease_owner', '=', f.owner)
    .execute();
}

/** An instance sink's next records: every chain, in id order. */
export function recordsAfter(db: Db, afterId: number, limit: number): Promise<StoredAuditRow[]> {
  return db.selectFrom('audit_events').selectAll().where('id', '>', afterId).orderBy('id').limit(limit).execute();
}

/** The same records as `recordsAfter`, by id and action only (for a sink that wants only some actions). */
export function recordActionsAfter(db: Db, afterId: number, limit: number): Promise<Pick<StoredAuditRow, 'id' | 'seq' | 'action'>[]> {
  return db.selectFrom('audit_events').select(['id', 'seq', 'action']).where('id', '>', afterId).orderBy('id').limit(limit).execute();
}

/** Records by id, in id order. */
export function recordsById(db: Db, ids: readonly number[]): Promise<StoredAuditRow[]> {
  return db.selectFrom('audit_events').selectAll().where('id', 'in', ids).orderBy('id').execute();
}

/**
 * An org sink's next records: its org's chain in seq order (the order they committed in, through
 * the (chain, seq) index). `org_id` too, so the query itself can never return another org's row.
 */
export function chainRecordsAfter(db: Db, chain: string, orgId: string, afterSeq: number, limit: number): Promise<StoredAuditRow[]> {
  return db.selectFrom('audit_events').selectAll().where('chain', '=', chain).where('org_id', '=', orgId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}

/** The newest record of a chain, with its id (inside the appending transaction: the one just written). */
export function chainHeadWithId(db: Db, chain: string) {
  return db.selectFrom('audit_events').select(['id', 'seq']).where('chain', '=', chain).orderBy('seq', 'desc').limit(1).executeTakeFirst();
}

/** The newest record id of all (instance sinks) or of a chain (org sinks): how far a drain must go. */
export async function newestId(db: Db, chain: string | null): Promise<number> {
  let q = db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id'));
  if (chain !== null) q = q.where('chain', '=', chain);
  const r = await q.executeTakeFirst();
  return Number(r?.id ?? 0);
}

/**
 * How far behind an instance sink is: the undelivered records (counted up to `cap`, so a sink far
 * behind does not cost a scan of its whole backlog on every status call) and the oldest one's time.
 */
export async function backlogAfterId(db: Db, afterId: number, cap: number): Promise<{ records: number; oldestAt: number | null }> {
  const counted = await db
    .selectFrom((eb) => eb.selectFrom('audit_events').select('id').where('id', '>', afterId).orderBy('id').limit(cap).as('b'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  const oldest = await db.selectFrom('audit_events').select('at').where('id', '>', afterId).orderBy('id').limit(1).executeTakeFirst();
  return { records: Number(counted?.n ?? 0), oldestAt: oldest ? Number(oldest.at) : null };
}

/** How far behind an org sink is: exact from its chain's seqs (no count needed). */
export async function backlogAfterSeq(db: Db, chain: string, afterSeq: number): Promise<{ records: number; oldestAt: number | null }> {
  const head = await chainHeadWithId(db, chain);
  const oldest = await db.selectFrom('audit_events').select('at').where('chain', '=', chain).where('seq', '>', afterSeq).orderBy('seq').limit(1).executeTakeFirst();
  return { records: Math.max(0, Number(head?.seq ?? 0) - afterSeq), oldestAt: oldest ? Number(oldest.at) : null };
}
