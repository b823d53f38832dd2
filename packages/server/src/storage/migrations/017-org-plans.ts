import type { Kysely } from 'kysely';

/**
 * Issue 6: an org's plan (orgs/plans.ts). NULL means the instance default (KEYNEST_DEFAULT_PLAN),
 * so existing orgs follow whatever the operator configures. A column of `orgs`, which row-level
 * security already covers (migration 010): no policy to add.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('orgs').addColumn('plan', 'text').execute();
}
