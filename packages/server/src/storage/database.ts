import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import { DEFAULT_APP_ROLE, type Config } from '../config.js';
import { POSTGRES, SQLITE, type DialectTraits } from './dialect.js';
import { migrate } from './migrate.js';
import { appDatabase, assertCannotBypass, grantAppRole, loginOf, ownerDatabase, postgresPool, SYSTEM_POOL_MAX, type PostgresOptions } from './postgres.js';
import type { Database } from './schema.js';
import { Tenancy } from './tenancy.js';

export type Db = Kysely<Database>;

export interface Storage {
  /** The app's queries (PostgreSQL: as the app role, under row-level security). */
  db: Db;
  /**
   * The schema owner's connection, for migrations, grants and tests that change the schema; the app
   * never queries through it. The same as `db` on SQLite.
   */
  owner: Db;
  /** The org the running code acts for (storage/tenancy.ts). */
  tenancy: Tenancy;
  traits: DialectTraits;
  /** Where the data lives, for humans (never includes a password). */
  describe: string;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export type StorageConfig = Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchema'> & Partial<Pick<Config, 'databaseMigrationUrl' | 'databaseAppRole'>>;

export async function openStorage(config: StorageConfig): Promise<Storage> {
  if (!config.databaseUrl) return openSqlite(config.dataDir);
  return openPostgres({
    url: config.databaseUrl,
    migrationUrl: config.databaseMigrationUrl,
    schema: config.databaseSchema,
    appRole: config.databaseAppRole ?? DEFAULT_APP_ROLE,
  });
}

/** How KeyNest opens its SQLite file, in order (the bench's floor server opens its own with them too). */
export const SQLITE_PRAGMAS: readonly string[] = [
  'journal_mode = WAL',
  'foreign_keys = ON',
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
  'synchronous = NORMAL',
  'busy_timeout = 5000',
  // Statement journals (a savepoint's undo: storage/group-commit.ts) in memory, not in temp files;
  // so are temporary sort trees, which KeyNest's queries keep small (a page, a tally by address).
  'temp_store = MEMORY',
  // One server process owns the database file. EXCLUSIVE keeps the locks and the WAL index in
  // this connection instead of taking and releasing file locks around every statement (a dozen
  // fcntl calls per request), and it makes a second server on the same file fail instead of
  // racing. The cost: other tools cannot open the file while KeyNest runs (back up via KeyNest).
  'locking_mode = EXCLUSIVE',
];

function openSqlite(dataDir: string): Storage {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'keynest.db');
  const sqlite = new SQLite(file);
  // Owner-only, before WAL mode creates its side files with the same mode: values are encrypted,
  // but names, audit trail and token digests are nobody else's business either.
  chmodSync(file, 0o600);
  for (const pragma of SQLITE_PRAGMAS) sqlite.pragma(pragma);
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

async function openPostgres(o: PostgresOptions): Promise<Storage> {
  const ownerPool = postgresPool(o.migrationUrl ?? o.url, o.schema, 2);
  const appPool = postgresPool(o.url, o.schema);
  const systemPool = postgresPool(o.url, o.schema, SYSTEM_POOL_MAX);
  const tenancy = new Tenancy(true);
  const owner = ownerDatabase(ownerPool);
  const db = appDatabase(appPool, o.appRole, tenancy, systemPool);
  try {
    if (o.schema) await owner.schema.createSchema(o.schema).ifNotExists().execute();
  } catch (err) {
    await Promise.all([owner.destroy(), db.destroy()]);
    throw err;
  }
  const u = new URL(o.url);
  return {
    db,
    owner,
    tenancy,
    traits: POSTGRES,
    describe: `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}${o.schema ? ` (schema ${o.schema})` : ''}`,
    async migrate() {
      const login = await loginOf(appPool);
      await migrate(owner, POSTGRES, Date.now(), undefined, (trx) => grantAppRole(trx, o.appRole, login));
      await assertCannotBypass(db, o.migrationUrl !== undefined);
    },
    close: async () => void (await Promise.all([db.destroy(), owner.destroy()])),
  };
}

function withMigrations(db: Db, traits: DialectTraits, describe: string): Storage {
  return {
    db,
    owner: db,
    tenancy: new Tenancy(false),
    traits,
    describe,
    async migrate() {
      await migrate(db, traits, Date.now());
    },
    close: () => db.destroy(),
  };
}
