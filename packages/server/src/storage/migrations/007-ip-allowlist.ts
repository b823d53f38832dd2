import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * Issue 4: the per-org IP allowlist and its emergency access.
 * - `ip_allowlists`: one row per org that has ever touched its allowlist; no row = off.
 *   A table of its own rather than columns on `orgs`, so the org's settings stay one concern.
 * - `ip_allowlist_entries`: the ranges, in canonical CIDR text (access/ip-ranges.ts), one per org.
 * - `emergency_access_codes`: mailed single-use codes, as SHA-256 digests only, 15 minutes.
 * - `emergency_allowances`: an address an owner proved themselves from, admitted for that owner
 *   until `expires_at` whatever the list says.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  await db.schema
    .createTable('ip_allowlists')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('orgs.id').onDelete('cascade'))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('ip_allowlist_entries')
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('cidr', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('ip_allowlist_entries_pk', ['org_id', 'cidr'])
    .execute();

  await db.schema
    .createTable('emergency_access_codes')
    .addColumn('code_digest', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema.createIndex('emergency_access_codes_user').on('emergency_access_codes').column('user_id').execute();

  await db.schema
    .createTable('emergency_allowances')
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('emergency_allowances_pk', ['org_id', 'user_id', 'ip'])
    .execute();
}
