import { sql, type Kysely } from 'kysely';

/**
 * Issue 6: an org's plan (orgs/plans.ts). NULL means the instance default (KEYNEST_DEFAULT_PLAN),
 * so existing orgs follow whatever the operator configures. A column of `orgs`, which row-level
 * security already covers (migration 010): no policy to add.
 * Setup now records the org it made as the instance's operator org (its owners set plans); an
 * instance set up before this gets its oldest org recorded here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('orgs').addColumn('plan', 'text').execute();
  await sql`insert into instance_settings (name, value, updated_at)
    select 'operator_org', id, created_at from orgs order by created_at, id limit 1`.execute(db);
}
