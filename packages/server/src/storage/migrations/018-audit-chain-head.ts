import { sql, type Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * PostgreSQL: an append takes its chain's lock and reads the chain's head in one round trip instead
 * of two (every read of a value appends a record; on PostgreSQL its cost is round trips). The head
 * must be read after the lock is granted, from a snapshot taken then: a plain query calling
 * pg_advisory_xact_lock would read with the snapshot of its own start, from before the previous
 * holder's commit. A VOLATILE function takes a new snapshot for each statement it runs (READ
 * COMMITTED), so its SELECT sees every append that committed before the lock was granted.
 * Returns the last record, else the anchor a retention purge left (the chain continues from it),
 * else nothing (a new chain) — as `chainHead` does (audit/store.ts).
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  if (!t.supportsAdvisoryLocks) return;
  await sql`CREATE FUNCTION keynest_audit_lock_chain_head(lock_space integer, lock_key integer, chain_name text)
    RETURNS TABLE (seq bigint, hash text) LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(lock_space, lock_key);
      RETURN QUERY SELECT e.seq, e.hash FROM audit_events e WHERE e.chain = chain_name ORDER BY e.seq DESC LIMIT 1;
      IF NOT FOUND THEN
        RETURN QUERY SELECT c.seq, c.hash FROM audit_checkpoints c WHERE c.chain = chain_name AND c.kind = 'anchor' ORDER BY c.seq DESC LIMIT 1;
      END IF;
    END $$`.execute(db);
}
