import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { POSTGRES, SQLITE, type DialectTraits } from './dialect.js';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

export interface Storage {
  db: Db;
  traits: DialectTraits;
  /** Where the data lives, for humans (never includes a password). */
  describe: string;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

const PG_INT8_OID = 20;
const MIGRATE_ATTEMPTS = 5;

function isSchemaVanished(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '3F000';
}

export async function openStorage(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchema'>): Promise<Storage> {
  return config.databaseUrl ? openPostgres(config.databaseUrl, config.databaseSchema) : openSqlite(config.dataDir);
}

function openSqlite(dataDir: string): Storage {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'keynest.db');
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return withMigrations(db, SQLITE, `SQLite ${file}`);
}

const STATEMENT_CACHE_MAX = 500;

/**
 * Kysely prepares every query anew; preparing costs more than running a small indexed query, and
 * our queries come from a handful of shapes. Reusing a statement is safe because Kysely runs one
 * query at a time on the single SQLite connection.
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        if (cache.size >= STATEMENT_CACHE_MAX) cache.clear();
        stmt = sqlite.prepare(sql);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

async function openPostgres(url: string, schema: string | undefined): Promise<Storage> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // Times are epoch-ms BIGINTs; they fit a JS number exactly, so read them as numbers.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === PG_INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (schema) await db.schema.createSchema(schema).ifNotExists().execute();
  const u = new URL(url);
  return withMigrations(db, POSTGRES, `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}${schema ? ` (schema ${schema})` : ''}`, schema);
}

function withMigrations(db: Db, traits: DialectTraits, describe: string, schema?: string): Storage {
  return {
    db,
    traits,
    describe,
    async migrate() {
      // Naming the schema matters: Kysely otherwise looks for its bookkeeping tables in every schema
      // of the database, finds another instance's, and skips creating its own.
      const migrator = new Migrator({ db, provider: migrationProvider(traits), ...(schema ? { migrationTableSchema: schema } : {}) });
      let { error, results } = await migrator.migrateToLatest();
      // Kysely introspects every schema of the database before migrating; a schema dropped by
      // someone else at that moment fails the introspection (PostgreSQL 3F000). Nothing was
      // migrated then, so trying again is safe.
      for (let attempt = 1; error && isSchemaVanished(error) && attempt < MIGRATE_ATTEMPTS; attempt++) {
        ({ error, results } = await migrator.migrateToLatest());
      }
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
        throw new Error(`database migration ${failed} failed: ${(error as Error).message}`);
      }
    },
    close: () => db.destroy(),
  };
}
