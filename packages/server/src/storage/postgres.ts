import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  sql,
  type DatabaseConnection,
  type Driver,
  type PostgresDialectConfig,
  type QueryCompiler,
  type TransactionSettings,
} from 'kysely';
import pg from 'pg';
import { isDuplicateObject } from './dialect.js';
import type { Database } from './schema.js';
import { SYSTEM, type Tenancy, type TenantContext } from './tenancy.js';

/**
 * PostgreSQL connections, the owner's and the app's (docs/tenant-isolation.md):
 * - the owner's (`KEYNEST_DATABASE_MIGRATION_URL`, else `KEYNEST_DATABASE_URL`): creates the schema,
 *   migrates, and grants the app role what it needs; always `system`. The app never queries through it.
 * - the app's (`KEYNEST_DATABASE_URL`): every connection acts as the app role (NOSUPERUSER,
 *   NOBYPASSRLS, not the tables' owner) and carries the tenant context of the code that took it from
 *   the pool into `keynest.org_id` / `keynest.scope`, which the row-level security policies read.
 *   Two pools of it: one for code acting as `system`, one for code acting for an org (SYSTEM_POOL_MAX).
 */
export interface PostgresOptions {
  url: string;
  migrationUrl: string | undefined;
  schema: string | undefined;
  appRole: string;
}

const PG_INT8_OID = 20;
const POOL_MAX = 10;
/**
 * Connections for code that acts as `system` (authentication's lookups, the background jobs: audit
 * sinks, the alert engine, checkpoints). Kept apart from the org connections requests use, so that
 * background work does not leave them bound to `system`, to be bound back (a round trip) by the
 * next request. As large as the org pool: code that holds a connection may take a second one, and
 * a small pool would run dry sooner under a burst of sign-ins (public routes act as `system`).
 * Connections open on demand, so an idle pool costs nothing.
 */
export const SYSTEM_POOL_MAX = POOL_MAX;

/**
 * The app role and the tenant context, in one round trip with bound parameters. Session-level
 * (`false`): a connection keeps them between queries, so the common case (the same org again) costs
 * nothing. Set when a connection is taken from the pool, before any BEGIN, because a set_config
 * inside a transaction that rolls back is undone with it. `role` is `SET ROLE` as a setting.
 */
const BIND = `select set_config('role', $1, false), set_config('keynest.org_id', $2, false), set_config('keynest.scope', $3, false)`;

export function postgresPool(url: string, schema: string | undefined, max = POOL_MAX): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max,
    // Times are epoch-ms BIGINTs; they fit a JS number exactly, so read them as numbers.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === PG_INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
}

/** The owner's connection: migrations and grants, always `system`, as the login itself. */
export function ownerDatabase(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new BoundDialect({ pool }, { role: 'none', current: () => SYSTEM }) });
}

/**
 * The app's connection: the app role, and the current tenant context on every connection it takes —
 * from `systemPool` when that context is `system`, else from `pool`.
 */
export function appDatabase(pool: pg.Pool, appRole: string, tenancy: Tenancy, systemPool?: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new BoundDialect({ pool }, { role: appRole, current: () => tenancy.current() }, systemPool) });
}

interface Binding {
  /** The role to act as; `none`: the login's own. */
  role: string;
  current(): Readonly<TenantContext>;
}

/** PostgreSQL, with every connection bound to a role and the current tenant context when it is taken. */
class BoundDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly binding: Binding,
    private readonly systemPool?: pg.Pool,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    const system = this.systemPool ? new PostgresDialect({ pool: this.systemPool }).createDriver() : undefined;
    return new BoundDriver(super.createDriver(), this.binding, system);
  }
}

/**
 * Kysely's PostgreSQL driver, plus: a connection taken from the pool carries the context of the code
 * that takes it. What each connection was last bound to is remembered, so only a connection that
 * changes org pays a round trip. A connection that fails to bind goes back to the pool (and is
 * bound again at its next use) rather than leaking.
 */
export class BoundDriver implements Driver {
  readonly #bound = new WeakMap<DatabaseConnection, string>();
  /** Which driver each connection handed out came from (it goes back there). */
  readonly #from = new WeakMap<DatabaseConnection, Driver>();

  constructor(
    private readonly inner: Driver,
    private readonly binding: Binding,
    /** Where `system` connections come from (SYSTEM_POOL_MAX); none: from `inner` too. */
    private readonly system: Driver = inner,
  ) {}

  async init(): Promise<void> {
    await this.inner.init();
    if (this.system !== this.inner) await this.system.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const ctx = this.binding.current();
    const source = ctx.scope === 'system' ? this.system : this.inner;
    const connection = await source.acquireConnection();
    this.#from.set(connection, source);
    const orgId = ctx.orgId ?? '';
    const key = `${ctx.scope}:${orgId}`;
    if (this.#bound.get(connection) === key) return connection;
    this.#bound.delete(connection);
    try {
      await connection.executeQuery(CompiledQuery.raw(BIND, [this.binding.role, orgId, ctx.scope]));
    } catch (err) {
      await source.releaseConnection(connection);
      throw err;
    }
    this.#bound.set(connection, key);
    return connection;
  }

  #of(c: DatabaseConnection): Driver {
    return this.#from.get(c) ?? this.inner;
  }

  beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#of(c).beginTransaction(c, settings);
  }

  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.#of(c).commitTransaction(c);
  }

  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.#of(c).rollbackTransaction(c);
  }

  savepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.#of(c).savepoint!(c, name, compile);
  }

  rollbackToSavepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.#of(c).rollbackToSavepoint!(c, name, compile);
  }

  releaseSavepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.#of(c).releaseSavepoint!(c, name, compile);
  }

  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.#of(c).releaseConnection(c);
  }

  async destroy(): Promise<void> {
    await this.inner.destroy();
    if (this.system !== this.inner) await this.system.destroy();
  }
}

/**
 * After migrating, as the owner: the app role exists (NOLOGIN NOSUPERUSER NOBYPASSRLS), may use the
 * schema and read and write its tables (not alter them), and `appLogin` may switch to it. Runs under
 * the migration lock (concurrent GRANTs on one table can fail), and tolerates another instance or
 * database creating the role at the same moment (roles belong to the whole cluster).
 */
export async function grantAppRole(trx: Kysely<Database>, appRole: string, appLogin: string): Promise<void> {
  const role = sql.id(appRole);
  const exists = await sql<{ n: number }>`select 1 as n from pg_roles where rolname = ${appRole}`.execute(trx);
  if (exists.rows.length === 0) {
    await sql`savepoint keynest_app_role`.execute(trx);
    try {
      await sql`create role ${role} nologin nosuperuser nobypassrls`.execute(trx);
    } catch (err) {
      if (!isDuplicateObject(err)) throw err;
      await sql`rollback to savepoint keynest_app_role`.execute(trx);
    }
  }
  const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(trx)).rows[0]!.s;
  await sql`grant usage on schema ${sql.id(schema)} to ${role}`.execute(trx);
  await sql`grant select, insert, update, delete on all tables in schema ${sql.id(schema)} to ${role}`.execute(trx);
  await sql`grant usage, select on all sequences in schema ${sql.id(schema)} to ${role}`.execute(trx);
  const login = await sql<{ member: boolean; super: boolean }>`
    select pg_has_role(${appLogin}, ${appRole}, 'MEMBER') as member, rolsuper as super from pg_roles where rolname = ${appLogin}`.execute(trx);
  const l = login.rows[0];
  if (l && !l.member && !l.super) await sql`grant ${role} to ${sql.id(appLogin)}`.execute(trx);
}

/** Who the app's connections log in as (before they switch to the app role). */
export async function loginOf(pool: pg.Pool): Promise<string> {
  const r = await pool.query<{ u: string }>('select session_user as u');
  return r.rows[0]!.u;
}

/**
 * Fail closed: a role that bypasses row-level security would make every policy decorative, and a
 * table's owner may drop its policies. The app role must be neither; and when the operator gave a
 * separate owner (`KEYNEST_DATABASE_MIGRATION_URL`), the app's login must not bypass either (a
 * superuser login could leave the role again).
 */
export async function assertCannotBypass(app: Kysely<Database>, checkLogin: boolean): Promise<void> {
  const r = await sql<{ who: string; super: boolean; bypass: boolean; owns: number; login_super: boolean; login_bypass: boolean }>`
    select r.rolname as who, r.rolsuper as super, r.rolbypassrls as bypass, l.rolsuper as login_super, l.rolbypassrls as login_bypass,
      (select count(*)::int from pg_tables where schemaname = current_schema() and tableowner = current_user) as owns
    from pg_roles r, pg_roles l where r.rolname = current_user and l.rolname = session_user`.execute(app);
  const me = r.rows[0];
  if (!me) throw new Error('PostgreSQL: cannot read the app role');
  if (me.super || me.bypass) {
    throw new Error(`PostgreSQL: the app role ${me.who} is a superuser or has BYPASSRLS; KeyNest refuses to run with tenant isolation switched off (docs/tenant-isolation.md)`);
  }
  if (me.owns > 0) {
    throw new Error(`PostgreSQL: the app role ${me.who} owns tables of the schema (an owner may drop their policies); name another KEYNEST_DATABASE_APP_ROLE (docs/tenant-isolation.md)`);
  }
  if (checkLogin && (me.login_super || me.login_bypass)) {
    throw new Error('PostgreSQL: KEYNEST_DATABASE_URL logs in as a superuser or a role with BYPASSRLS; with KEYNEST_DATABASE_MIGRATION_URL set, give the app an unprivileged login (docs/tenant-isolation.md)');
  }
}
