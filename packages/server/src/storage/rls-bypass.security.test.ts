import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { newId } from '../crypto/random.js';
import type { TestServerOptions } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, setupOwner } from '../test-support/api.js';
import { createProject } from '../test-support/fixtures.js';

/**
 * The threat: row-level security made decorative by the connection itself — the app's queries
 * running as a superuser or a BYPASSRLS role (which skip every policy), as the tables' owner (who
 * may drop them), or logged in as a role that could leave the app role again. KeyNest refuses to
 * start so (docs/tenant-isolation.md); these tests start it every way an operator may deploy it.
 */
const NO_RLS = 'SQLite has no row-level security (docs/tenant-isolation.md)';

describe('the app connection cannot bypass row-level security (PostgreSQL)', () => {
  const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL || undefined;
  const skip = pgUrl ? false : NO_RLS;
  const LOGIN = 'keynest_test_login';
  const OWNER_LOGIN = 'keynest_test_owner';
  const schemas: string[] = [];
  const schema = () => {
    schemas.push(`t_rls_${newId('x').slice(-12).toLowerCase().replace(/[^a-z0-9]/g, '')}`);
    return schemas.at(-1)!;
  };
  const asLogin = (login: string) => {
    const u = new URL(pgUrl!);
    u.username = login;
    u.password = '';
    return u.toString();
  };
  after(async () => {
    if (!pgUrl) return;
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    for (const s of schemas) await client.query(`drop schema if exists ${client.escapeIdentifier(s)} cascade`);
    await client.end();
  });

  it('refuses to start when the app role is a superuser (or has BYPASSRLS), naming why', { skip }, async () => {
    await assert.rejects(startServer({ schema: schema(), env: { KEYNEST_DATABASE_APP_ROLE: 'postgres' } }), /app role postgres is a superuser or has BYPASSRLS/);
  });

  /** Runs statements as the test database's superuser (roles belong to the whole cluster: tolerate earlier runs). */
  const asSuperuser = async (...statements: string[]) => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
  };
  const createLogin = (name: string, attributes: string) =>
    `do $$ begin create role ${name} login ${attributes} nosuperuser nobypassrls; exception when duplicate_object or unique_violation then null; end $$`;

  /** A server on a fresh schema, set up and used through the API; its app queries run as the app role, logged in as `login`. */
  const worksAsAppRole = async (opts: TestServerOptions, login: string) => {
    const srv = await startServer(opts);
    try {
      const owner = api(srv, await setupOwner(srv));
      await createProject(owner, 'app');
      const who = await sql<{ login: string; role: string }>`select session_user as login, current_user as role`.execute(srv.db);
      assert.deepEqual(who.rows, [{ login, role: 'keynest_app' }]);
    } finally {
      await srv.close();
    }
    return srv;
  };

  it('with KEYNEST_DATABASE_MIGRATION_URL, the owner migrates and the app logs in unprivileged and works as the app role', { skip }, async () => {
    await asSuperuser(createLogin(LOGIN, ''));
    await worksAsAppRole({ schema: schema(), keepData: false, env: { KEYNEST_DATABASE_URL: asLogin(LOGIN), KEYNEST_DATABASE_MIGRATION_URL: pgUrl! } }, LOGIN);
  });

  it('a schema owner that is no superuser (CREATEROLE) migrates under its own forced policies, and the app works beside it; the owner as app role is refused', { skip }, async () => {
    const database = new URL(pgUrl!).pathname.slice(1);
    await asSuperuser(createLogin(OWNER_LOGIN, 'createrole'), createLogin(LOGIN, ''), `grant create on database ${database} to ${OWNER_LOGIN}`);
    const env = { KEYNEST_DATABASE_URL: asLogin(LOGIN), KEYNEST_DATABASE_MIGRATION_URL: asLogin(OWNER_LOGIN) };
    const s = schema();
    const first = await worksAsAppRole({ schema: s, keepData: true, env }, LOGIN);
    // A restart on the same schema migrates nothing and grants again.
    const again = await startServer({ schema: s, dataDir: first.dataDir, keepData: false, env });
    await again.close();
    await assert.rejects(startServer({ schema: schema(), env: { ...env, KEYNEST_DATABASE_APP_ROLE: OWNER_LOGIN } }), /app role keynest_test_owner owns tables of the schema/);
  });

  it('with KEYNEST_DATABASE_MIGRATION_URL, an app login that is a superuser is refused (it could leave the app role)', { skip }, async () => {
    await assert.rejects(startServer({ schema: schema(), env: { KEYNEST_DATABASE_MIGRATION_URL: pgUrl! } }), /KEYNEST_DATABASE_URL logs in as a superuser/);
  });
});
