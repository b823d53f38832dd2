import { sql, type Kysely } from 'kysely';
import { chainOf, GENESIS_HASH, recordHash } from '@keynest/sdk/audit-chain';
import type { DialectTraits } from '../dialect.js';
import { isolateByOrg } from '../row-security.js';

/**
 * Issue 5: the audit log becomes provable.
 * - `audit_events` gains who acted by name and from which client (`actor_name`, `user_agent`), the
 *   project and environment an event concerns (`project`, `environment`, names at the time), and
 *   indexes for search;
 * - `audit_events` gains `chain` (the org id, '' for instance events), `seq` (1, 2, … per chain),
 *   `prev_hash` and `hash` (audit/chain.ts says what is hashed); existing rows are chained here, in
 *   id order, so an upgraded instance verifies from its first record.
 * - `audit_checkpoints`: signed statements "chain C had record `seq` with hash H at time T";
 *   `kind = 'anchor'` marks where a retention purge cut the chain (the rows up to it may go).
 * - `audit_signing_keys`: the Ed25519 keys that sign checkpoints, private halves sealed by the root key.
 * - `orgs.audit_retention_days`: an org's own retention (null: the deployment's).
 * - Triggers in both databases refuse UPDATE of audit rows and checkpoints, and DELETE (and on
 *   PostgreSQL TRUNCATE) except of audit rows covered by a signed anchor: the retention purge.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  const added = [['actor_name', 'text'], ['user_agent', 'text'], ['project', 'text'], ['environment', 'text'], ['chain', 'text'], ['seq', ms], ['prev_hash', 'text'], ['hash', 'text']] as const;
  for (const [column, type] of added) await db.schema.alterTable('audit_events').addColumn(column, type).execute();
  await chainExistingRows(db);
  await db.schema.createIndex('audit_events_chain_seq').unique().on('audit_events').columns(['chain', 'seq']).execute();
  // Search (newest first within an org): a time range becomes an id range by binary search along
  // the chain (audit/store.ts); the common filters each have an index that keeps their matches in
  // id order. Every index costs every write, and every read of a value writes a record.
  await db.schema.createIndex('audit_events_org_action').on('audit_events').columns(['org_id', 'action', 'id']).execute();
  await db.schema.createIndex('audit_events_org_actor').on('audit_events').columns(['org_id', 'actor_id', 'id']).execute();
  await db.schema.createIndex('audit_events_org_environment').on('audit_events').columns(['org_id', 'environment', 'id']).execute();

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('id', t.serialId, (c) => c.primaryKey())
    .addColumn('org_id', 'text')
    .addColumn('chain', 'text', (c) => c.notNull())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('at', ms, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_checkpoints_chain_seq').on('audit_checkpoints').columns(['chain', 'seq']).execute();
  // A tenant table (a checkpoint of an org's chain belongs to that org); instance checkpoints have no org.
  if (t.rowLevelSecurity) await isolateByOrg(db, 'audit_checkpoints', 'org_id');

  await db.schema
    .createTable('audit_signing_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('private_key', t.blob, (c) => c.notNull())
    .addColumn('nonce', t.blob, (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();

  await db.schema.alterTable('orgs').addColumn('audit_retention_days', 'integer').execute();

  if (t.name === 'sqlite') await sqliteTriggers(db);
  else await postgresTriggers(db);
}

/** Rows written before this migration, chained in the order they were written. */
async function chainExistingRows(db: Kysely<unknown>): Promise<void> {
  const k = db as Kysely<LegacyDb>;
  const heads = new Map<string, { seq: number; hash: string }>();
  const PAGE = 2000;
  let after = 0;
  for (;;) {
    const rows = await k.selectFrom('audit_events').selectAll().where('id', '>', after).orderBy('id').limit(PAGE).execute();
    if (rows.length === 0) return;
    for (const row of rows) {
      const id = Number(row.id);
      const chain = chainOf(row.org_id);
      const head = heads.get(chain) ?? { seq: 0, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const { id: _id, ...fields } = row;
      const hash = recordHash({ ...fields, at: Number(fields.at), chain, seq }, head.hash);
      await k.updateTable('audit_events').set({ chain, seq, prev_hash: head.hash, hash }).where('id', '=', id).execute();
      heads.set(chain, { seq, hash });
      after = id;
    }
  }
}

interface LegacyDb {
  audit_events: {
    id: number;
    org_id: string | null;
    at: number;
    action: string;
    outcome: string;
    actor_type: string;
    actor_id: string | null;
    target_type: string | null;
    target_id: string | null;
    target_name: string | null;
    ip: string | null;
    request_id: string | null;
    details: string;
    actor_name: string | null;
    user_agent: string | null;
    project: string | null;
    environment: string | null;
    chain: string | null;
    seq: number | null;
    prev_hash: string | null;
    hash: string | null;
  };
}

async function sqliteTriggers(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END`.execute(db);
  await sql`CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
    WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.chain = OLD.chain AND c.kind = 'anchor' AND c.seq >= OLD.seq)
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only (only the retention purge removes them)'); END`.execute(db);
  await sql`CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END`.execute(db);
  await sql`CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END`.execute(db);
}

async function postgresTriggers(db: Kysely<unknown>): Promise<void> {
  // The functions live in the schema being migrated (the search path), beside their tables.
  await sql`CREATE FUNCTION keynest_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_checkpoints c WHERE c.chain = OLD.chain AND c.kind = 'anchor' AND c.seq >= OLD.seq
      ) THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'audit records are append-only (only the retention purge removes them)';
    END $$`.execute(db);
  await sql`CREATE FUNCTION keynest_append_only_table() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
    END $$`.execute(db);
  await sql`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION keynest_audit_append_only()`.execute(db);
  await sql`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION keynest_append_only_table()`.execute(db);
  await sql`CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION keynest_append_only_table()`.execute(db);
}
