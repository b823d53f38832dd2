import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { POSTGRES, SQLITE, type DialectTraits } from './dialect.js';
import { migrate } from './migrate.js';
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

export async function openStorage(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchema'>): Promise<Storage> {
  return config.databaseUrl ? openPostgres(config.databaseUrl, config.databaseSchema) : openSqlite(config.dataDir);
}

function openSqlite(dataDir: string): Storage {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'keynest.db');
  const sqlite = new SQLite(file);
  // Owner-only, before WAL mode creates its side files with the same mode: values are encrypted,
  // but names, audit trail and token digests are nobody else's business either.
  chmodSync(file, 0o600);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  // One server process owns the database file. EXCLUSIVE keeps the locks and the WAL index in
  // this connection instead of taking and releasing file locks around every statement (a dozen
  // fcntl calls per request), and it makes a second server on the same file fail instead of
  // racing. The cost: other tools cannot open the file while KeyNest runs (back up via KeyNest).
  sqlite.pragma('locking_mode = EXCLUSIVE');
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
  return withMigrations(db, POSTGRES, `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}${schema ? ` (schema ${schema})` : ''}`);
}

function withMigrations(db: Db, traits: DialectTraits, describe: string): Storage {
  return {
    db,
    traits,
    describe,
    async migrate() {
      await migrate(db, traits, Date.now());
    },
    close: () => db.destroy(),
  };
}
