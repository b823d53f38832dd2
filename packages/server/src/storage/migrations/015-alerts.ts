import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';
import { isolateByOrg } from '../row-security.js';

/**
 * Issue 5: security alerts (alerts/). `alert_rules`: an org's own setting of a rule (enabled,
 * threshold, window), where it differs from the shipped default. `alerts`: what fired, one row per
 * de-duplicated alert (a burst of the same alert bumps `count` and `last_at` instead of notifying
 * again). `alert_countries`: the countries each member has signed in from, for "new country".
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  await db.schema
    .createTable('alert_rules')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('threshold', 'integer')
    .addColumn('window_s', 'integer')
    .addColumn('updated_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .addPrimaryKeyConstraint('alert_rules_pk', ['org_id', 'rule'])
    .execute();
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    /** What the alert is about within the rule (an IP, a user id, a token id): the de-duplication key with org and rule. */
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('first_at', t.epochMs, (c) => c.notNull())
    .addColumn('last_at', t.epochMs, (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    /** The audit record that fired it first. */
    .addColumn('audit_id', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alerts_dedupe').on('alerts').columns(['org_id', 'rule', 'subject', 'last_at']).execute();
  await db.schema.createIndex('alerts_org_first').on('alerts').columns(['org_id', 'first_at']).execute();
  await db.schema
    .createTable('alert_countries')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('country_code', 'text', (c) => c.notNull())
    .addColumn('first_at', t.epochMs, (c) => c.notNull())
    .addPrimaryKeyConstraint('alert_countries_pk', ['org_id', 'user_id', 'country_code'])
    .execute();
  if (t.rowLevelSecurity) for (const table of ['alert_rules', 'alerts', 'alert_countries']) await isolateByOrg(db, table, 'org_id');
}
