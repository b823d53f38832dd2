import { sql, type Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * PostgreSQL: an audit append that commits by itself (the group commit of reads) in one round
 * trip instead of four (BEGIN, lock and head, INSERT, COMMIT): on PostgreSQL an append costs round
 * trips, and every read of a value appends. The caller links the records to the head it believes
 * the chain has (the one its own last append left); the function takes the chain's lock, reads the
 * head as `keynest_audit_lock_chain_head` does (migration 018: a new snapshot after the lock), and
 * inserts the records only if that head is the expected one. Otherwise it inserts nothing and
 * returns the actual head, to link again from. Called as a statement of its own, it is its own
 * transaction: the lock is held from the head read to the commit, and ids are drawn under it (what
 * `chainLockHolders` relies on). Records come as a JSON array in seq order, every AUDIT_COLUMN each.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  if (!t.supportsAdvisoryLocks) return;
  await sql`CREATE FUNCTION keynest_audit_append_at_head(lock_space integer, lock_key integer, chain_name text, expected_seq bigint, expected_hash text, records jsonb)
    RETURNS TABLE (appended boolean, seq bigint, hash text) LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      head_seq bigint;
      head_hash text;
    BEGIN
      PERFORM pg_advisory_xact_lock(lock_space, lock_key);
      SELECT e.seq, e.hash INTO head_seq, head_hash FROM audit_events e WHERE e.chain = chain_name ORDER BY e.seq DESC LIMIT 1;
      IF NOT FOUND THEN
        SELECT c.seq, c.hash INTO head_seq, head_hash FROM audit_checkpoints c WHERE c.chain = chain_name AND c.kind = 'anchor' ORDER BY c.seq DESC LIMIT 1;
      END IF;
      IF head_seq IS DISTINCT FROM expected_seq OR head_hash IS DISTINCT FROM expected_hash THEN
        RETURN QUERY SELECT false, head_seq, head_hash;
        RETURN;
      END IF;
      INSERT INTO audit_events (org_id, at, action, outcome, actor_type, actor_id, target_type, target_id, target_name, ip, request_id, details,
                                actor_name, user_agent, project, environment, chain, seq, prev_hash, hash)
        SELECT r.org_id, r.at, r.action, r.outcome, r.actor_type, r.actor_id, r.target_type, r.target_id, r.target_name, r.ip, r.request_id, r.details,
               r.actor_name, r.user_agent, r.project, r.environment, r.chain, r.seq, r.prev_hash, r.hash
        FROM jsonb_to_recordset(records) AS r(org_id text, at bigint, action text, outcome text, actor_type text, actor_id text, target_type text,
                                              target_id text, target_name text, ip text, request_id text, details text, actor_name text,
                                              user_agent text, project text, environment text, chain text, seq bigint, prev_hash text, hash text)
        ORDER BY r.seq;
      RETURN QUERY SELECT true, head_seq, head_hash;
    END $$`.execute(db);
}
