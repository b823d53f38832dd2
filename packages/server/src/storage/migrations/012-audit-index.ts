import type { Kysely } from 'kysely';

/**
 * Every audit record is written into each index of its table, and a read of a secret writes one:
 * indexes are the cost of the hot path. (org_id, id) of 001 serves nothing (chain, seq) of 011 does
 * not (an org's chain is its records, in id order), so it goes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('audit_events_org_id').execute();
}
