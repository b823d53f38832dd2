import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { DialectTraits } from './dialect.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';

/** Arbitrary but fixed: every KeyNest instance takes the same PostgreSQL advisory lock to migrate. */
const MIGRATION_LOCK_ID = 0x6b65796e; // "keyn"

/**
 * Brings the schema up to date, in one transaction (both databases have transactional DDL), so a
 * failed migration leaves nothing half-done. On PostgreSQL an advisory lock makes instances that
 * start together take turns. Unlike Kysely's Migrator this never introspects the database: it
 * reads only its own bookkeeping table, so other schemas changing at the same moment cannot
 * break start-up.
 */
export async function migrate(
  db: Kysely<Database>,
  traits: DialectTraits,
  now: number,
  migrations: readonly (readonly [string, Migration])[] = MIGRATIONS,
  /** Runs after the migrations, in the same transaction and under the same lock (grants). */
  afterwards?: (trx: Kysely<Database>) => Promise<void>,
): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    if (traits.supportsAdvisoryLocks) await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`.execute(trx);
    await trx.schema
      .createTable('keynest_migrations')
      .ifNotExists()
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('applied_at', traits.epochMs, (c) => c.notNull())
      .execute();
    const rows = await trx.selectFrom('keynest_migrations').select('name').execute();
    const done = new Set(rows.map((r) => r.name));
    const applied: string[] = [];
    for (const [name, migration] of migrations) {
      if (done.has(name)) continue;
      try {
        await migration.up(trx as unknown as Kysely<unknown>, traits);
      } catch (err) {
        throw new Error(`database migration ${name} failed: ${(err as Error).message}`);
      }
      await trx.insertInto('keynest_migrations').values({ name, applied_at: now }).execute();
      applied.push(name);
    }
    if (afterwards) await afterwards(trx);
    return applied;
  });
}
