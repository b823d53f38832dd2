import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * PostgreSQL row-level security for tenant tables (docs/tenant-isolation.md). A row is visible, and
 * may be written, when its org is the connection's `keynest.org_id`, or when the connection acts for
 * the whole instance (`keynest.scope` = `system`: start-up, sign-in lookups, the few cross-org paths).
 * A row whose org is NULL (an instance-level audit event) is therefore `system`'s only. Both settings
 * are read with `missing_ok`, so a connection that never set them sees nothing (fail closed).
 * FORCE makes the policy bind the tables' owner too; superusers and BYPASSRLS roles still skip it,
 * which is why the app runs as a role that is neither (storage/postgres.ts).
 */
export const TENANT_POLICY = 'keynest_tenant_isolation';

const isSystem = sql`current_setting('keynest.scope', true) = 'system'`;

/** A table whose rows carry their org in `column` (`org_id`; `id` for `orgs` itself). */
export async function isolateByOrg(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  await protect(db, table, sql`${sql.ref(column)} = current_setting('keynest.org_id', true) or ${isSystem}`);
}

/**
 * A table without an org column whose rows belong to a row of `parent` (itself isolated): visible
 * when that row is. The subquery runs under `parent`'s own policy.
 */
export async function isolateByParent(db: Kysely<unknown>, table: string, column: string, parent: string, parentKey: string): Promise<void> {
  const p = sql.table(parent);
  await protect(db, table, sql`${isSystem} or exists (select 1 from ${p} where ${p}.${sql.ref(parentKey)} = ${sql.table(table)}.${sql.ref(column)})`);
}

async function protect(db: Kysely<unknown>, table: string, rule: RawBuilder<unknown>): Promise<void> {
  const t = sql.table(table);
  await sql`alter table ${t} enable row level security`.execute(db);
  await sql`alter table ${t} force row level security`.execute(db);
  await sql`drop policy if exists ${sql.id(TENANT_POLICY)} on ${t}`.execute(db);
  await sql`create policy ${sql.id(TENANT_POLICY)} on ${t} using (${rule}) with check (${rule})`.execute(db);
}

/** Every base table of the current schema with an `org_id` column. */
export async function tablesWithOrgId<DB>(db: Kysely<DB>): Promise<string[]> {
  const r = await sql<{ table_name: string }>`
    select c.table_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = current_schema() and c.column_name = 'org_id' and t.table_type = 'BASE TABLE'
    order by c.table_name`.execute(db);
  return r.rows.map((x) => x.table_name);
}
