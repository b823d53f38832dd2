import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';
import { isolateByOrg, isolateByParent, tablesWithOrgId } from '../row-security.js';

/**
 * Issue 4: tenant isolation in the database (PostgreSQL; SQLite has no row-level security, and this
 * is a no-op there). Every table that has an `org_id` column when this runs — found in the catalog,
 * not listed, so tables added by earlier migrations on other branches are covered too — plus `orgs`
 * (by `id`) and the two tables that hang off an isolated row without an org column of their own:
 * `api_token_grants` (by token) and `used_refresh_tokens` (by session). A later migration that adds
 * a tenant table calls `isolateByOrg` for it; storage/tenant-isolation.test.ts fails until it does.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  if (!t.rowLevelSecurity) return;
  for (const table of await tablesWithOrgId(db)) await isolateByOrg(db, table, 'org_id');
  await isolateByOrg(db, 'orgs', 'id');
  await isolateByParent(db, 'api_token_grants', 'token_id', 'api_tokens', 'id');
  await isolateByParent(db, 'used_refresh_tokens', 'session_id', 'sessions', 'id');
}
