import { sql } from 'kysely';
import type { TestServer } from '../testing.js';

type Srv = Pick<TestServer, 'db' | 'owner' | 'database'> & { schema?: string | undefined };

/** Every table of the server's own schema (PostgreSQL: its test schema; SQLite: the file). */
export async function tableNames(srv: Srv): Promise<string[]> {
  if (srv.database === 'sqlite') {
    const r = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`.execute(srv.db);
    return r.rows.map((x) => x.name);
  }
  const r = await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = ${srv.schema} AND table_type = 'BASE TABLE'`.execute(srv.db);
  return r.rows.map((x) => x.table_name);
}

/** Every column of every table with its declared type. */
export async function columns(srv: Srv): Promise<{ table: string; column: string; type: string }[]> {
  const out: { table: string; column: string; type: string }[] = [];
  if (srv.database === 'sqlite') {
    for (const t of await tableNames(srv)) {
      const r = await sql<{ name: string; type: string }>`SELECT name, type FROM pragma_table_info(${t})`.execute(srv.db);
      for (const c of r.rows) out.push({ table: t, column: c.name, type: c.type.toLowerCase() });
    }
    return out;
  }
  const r = await sql<{ table_name: string; column_name: string; data_type: string }>`
    SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = ${srv.schema} AND t.table_type = 'BASE TABLE'`.execute(srv.db);
  for (const c of r.rows) out.push({ table: c.table_name, column: c.column_name, type: c.data_type.toLowerCase() });
  return out;
}

/** Every cell of every table: text as strings, blobs/bytea as Buffers, numbers as numbers. */
export async function allCells(srv: Srv): Promise<{ table: string; column: string; value: unknown }[]> {
  const out: { table: string; column: string; value: unknown }[] = [];
  for (const t of await tableNames(srv)) {
    const r = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(t)}`.execute(srv.db);
    for (const row of r.rows) for (const [column, value] of Object.entries(row)) out.push({ table: t, column, value });
  }
  return out;
}

export async function renameTable(srv: Srv, from: string, to: string): Promise<void> {
  await sql`ALTER TABLE ${sql.table(from)} RENAME TO ${sql.table(to)}`.execute(srv.owner);
}

/**
 * Runs `tamper` with the audit tables' append-only triggers out of the way, as an attacker with
 * write access to the database would (drop them on SQLite, disable them on PostgreSQL), and puts
 * them back afterwards.
 */
export async function withoutAuditTriggers(srv: Srv, tamper: () => Promise<void>): Promise<void> {
  if (srv.database === 'sqlite') {
    const triggers = (
      await sql<{ name: string; sql: string }>`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('audit_events', 'audit_checkpoints')`.execute(srv.db)
    ).rows;
    for (const t of triggers) await sql`DROP TRIGGER ${sql.id(t.name)}`.execute(srv.owner);
    try {
      await tamper();
    } finally {
      // The trigger text as SQLite itself stored it: restoring is a test's business, not a value.
      for (const t of triggers) await sql.raw(t.sql).execute(srv.owner);
    }
    return;
  }
  for (const table of ['audit_events', 'audit_checkpoints']) await sql`ALTER TABLE ${sql.table(table)} DISABLE TRIGGER USER`.execute(srv.owner);
  try {
    await tamper();
  } finally {
    for (const table of ['audit_events', 'audit_checkpoints']) await sql`ALTER TABLE ${sql.table(table)} ENABLE TRIGGER USER`.execute(srv.owner);
  }
}
