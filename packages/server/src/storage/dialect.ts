import type { ColumnDataType } from 'kysely';

/**
 * The few ways SQLite and PostgreSQL differ for us, kept in one place (as Kysely keeps
 * `supportsReturning` on its adapters) instead of `if (sqlite)` through the code.
 */
export interface DialectTraits {
  name: 'sqlite' | 'postgres';
  blob: ColumnDataType;
  epochMs: ColumnDataType;
  /** Column type of an auto-incrementing 64-bit id. */
  serialId: ColumnDataType;
  /** Whether SELECT … FOR UPDATE exists (SQLite serialises writers instead). */
  supportsForUpdate: boolean;
  /** pg_advisory_xact_lock, to serialise instances that migrate at the same time. */
  supportsAdvisoryLocks: boolean;
  /** Row-level security: the database itself keeps each org to its own rows (docs/tenant-isolation.md). */
  rowLevelSecurity: boolean;
}

export const SQLITE: DialectTraits = {
  name: 'sqlite',
  blob: 'blob',
  epochMs: 'integer',
  serialId: 'integer',
  supportsForUpdate: false,
  supportsAdvisoryLocks: false,
  rowLevelSecurity: false,
};

export const POSTGRES: DialectTraits = {
  name: 'postgres',
  blob: 'bytea',
  epochMs: 'bigint',
  serialId: 'bigserial',
  supportsForUpdate: true,
  supportsAdvisoryLocks: true,
  rowLevelSecurity: true,
};

/** True when a write failed on a UNIQUE constraint, in either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === '23505';
}

/** True when a CREATE failed because the object exists (or was created concurrently: PostgreSQL). */
export function isDuplicateObject(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === '42710' || e?.code === '23505';
}
