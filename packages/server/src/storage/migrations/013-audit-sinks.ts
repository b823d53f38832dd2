import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';
import { isolateByOrg } from '../row-security.js';

/**
 * Issue 5: audit records stream to sinks (docs/audit.md, "Streaming to sinks").
 * - `audit_sinks`: an org's webhook sinks; the HMAC signing secret is sealed with the org's data
 *   key (`key_version`), bound to the org and the sink id, so it can be opened again to sign.
 * - `audit_sink_cursors`: one row per sink — an org's (created with the sink) and the instance's
 *   configured ones (created at their first start, `org_id` null) — holding how far it has been
 *   delivered (`last_id`, and `last_seq` in the org's chain for an org sink), who delivers it now
 *   (`lease_owner` until `lease_until`: one instance at a time when several share PostgreSQL),
 *   and the latest failure, for the sink's status. Records themselves stay in `audit_events`:
 *   the database is the source of truth and a sink's backlog is simply what lies past its cursor.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  await db.schema
    .createTable('audit_sinks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('secret_ciphertext', t.blob, (c) => c.notNull())
    .addColumn('secret_nonce', t.blob, (c) => c.notNull())
    .addColumn('key_version', 'integer', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('created_by', 'text')
    .execute();
  await db.schema.createIndex('audit_sinks_org').on('audit_sinks').column('org_id').execute();

  await db.schema
    .createTable('audit_sink_cursors')
    .addColumn('sink_id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text')
    .addColumn('last_id', ms, (c) => c.notNull())
    .addColumn('last_seq', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', ms)
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_error_at', ms)
    .addColumn('last_delivered_at', ms)
    .execute();

  // Tenant tables: an org sink and its cursor are the org's; an instance sink's cursor (no org) is
  // `system`'s only (storage/row-security.ts).
  if (t.rowLevelSecurity) {
    await isolateByOrg(db, 'audit_sinks', 'org_id');
    await isolateByOrg(db, 'audit_sink_cursors', 'org_id');
  }
}
