import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { sql } from 'kysely';
import Fastify, { type FastifyRequest } from 'fastify';
import pg from 'pg';
import type { UserPrincipal } from '../access/principal.js';
import { registerAccessControl } from '../http/access.js';
import { registerErrorHandling } from '../http/errors.js';
import { hashPassword } from '../crypto/passwords.js';
import { newId } from '../crypto/random.js';
import { insertMembership, insertUser } from '../identity/store.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, putSecret } from '../test-support/fixtures.js';
import { TENANT_POLICY, tablesWithOrgId } from './row-security.js';
import type { TenantContext } from './tenancy.js';
import { builtinRules, compileAccess } from '../access/member-access.js';

/**
 * The threat: a query that forgets its org filter (or an id taken from another org) reaches another
 * org's rows. On PostgreSQL the database itself refuses: row-level security on every tenant table,
 * the app connected as a role that cannot bypass it, and the org of the running code carried to
 * the connection. SQLite has no row-level security: there the stores' org filters are the rule
 * (access/cross-org.security.test.ts tests them on both databases).
 */
const SQLITE_REASON = 'SQLite has no row-level security; the org filters of the stores are tested by cross-org.security.test.ts';

/** Tables whose rows belong to an org though they have no org_id column (policy through their parent). */
const CHILD_TABLES = ['api_token_grants', 'used_refresh_tokens'];

describe('tenant isolation in the database (PostgreSQL row-level security)', () => {
  let srv: TestServer & { schema: string | undefined };
  let a: Api;
  let b: Api;
  const org = { a: '', b: '' };

  before(async () => {
    srv = await startServer();
    if (srv.database !== 'postgres') return;
    a = api(srv, await setupOwner(srv));
    await createProject(a, 'app');
    await putSecret(a, 'app', 'production', 'DB_PASS', 'org-a-value');
    await createToken(a, { project: 'app', environment: 'production', access: 'read' });
    org.a = (await a('GET', '/api/v1/me')).body.principal.org.id;

    const now = Date.now();
    const userId = newId('usr');
    const passwordHash = await hashPassword('globex-password-1');
    await srv.db.transaction().execute(async (trx) => {
      org.b = (await srv.keynest.services.orgs.createOrg(trx, 'Globex', now)).id;
      await insertUser(trx, { id: userId, email: 'boss@globex.example', passwordHash, now });
      await insertMembership(trx, { orgId: org.b, userId, role: 'owner', now });
    });
    const login = await api(srv)('POST', '/api/v1/auth/login', { email: 'boss@globex.example', password: 'globex-password-1' });
    assert.equal(login.status, 200, login.text);
    // Refreshed once, so used_refresh_tokens has a row of org B too.
    const refreshed = await api(srv)('POST', '/api/v1/auth/refresh', { refreshToken: login.body.refreshToken });
    assert.equal(refreshed.status, 200, refreshed.text);
    b = api(srv, refreshed.body.accessToken);
    await createProject(b, 'app');
    await putSecret(b, 'app', 'production', 'DB_PASS', 'org-b-value');
    await createToken(b, { project: 'app', environment: 'production', access: 'read' });
  });
  after(() => srv.close());

  const onPostgres = (t: TestContext) => {
    if (srv.database !== 'postgres') t.skip(SQLITE_REASON);
    return srv.database === 'postgres';
  };

  it("the app's queries run as a role that is neither a superuser nor allowed to bypass row-level security, and not the tables' owner", async (t) => {
    if (!onPostgres(t)) return;
    const r = await sql<{ me: string; super: boolean; bypass: boolean; owns: number }>`
      select current_user as me, rolsuper as super, rolbypassrls as bypass,
        (select count(*)::int from pg_tables where schemaname = current_schema() and tableowner = current_user) as owns
      from pg_roles where rolname = current_user`.execute(srv.db);
    assert.deepEqual(r.rows, [{ me: 'keynest_app', super: false, bypass: false, owns: 0 }]);
  });

  it('every table with an org_id column (and orgs, and the tables hanging off one) has row-level security enabled, forced, and the tenant policy', async (t) => {
    if (!onPostgres(t)) return;
    const withOrgId = await tablesWithOrgId(srv.owner);
    assert.ok(withOrgId.includes('secrets') && withOrgId.includes('audit_events'), `found: ${withOrgId.join(', ')}`);
    const expected = [...withOrgId, 'orgs', ...CHILD_TABLES].sort();
    const r = await sql<{ table: string; enabled: boolean; forced: boolean; policies: number }>`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
        (select count(*)::int from pg_policy p where p.polrelid = c.oid and p.polname = ${TENANT_POLICY}) as policies
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relname in (${sql.join(expected)})
      order by c.relname`.execute(srv.owner);
    assert.deepEqual(
      r.rows.map((x) => x.table),
      expected,
    );
    const unprotected = r.rows.filter((x) => !x.enabled || !x.forced || x.policies !== 1).map((x) => x.table);
    assert.deepEqual(unprotected, [], 'tenant tables without forced row-level security and the tenant policy (call isolateByOrg in the migration that adds them)');
  });

  it("inside org A's context a query without any org filter sees only org A's rows, in every tenant table", async (t) => {
    if (!onPostgres(t)) return;
    const { tenancy } = srv.keynest.storage;
    const everything = async (table: string) => (await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(srv.db)).rows;
    const orgColumn = (table: string) => (table === 'orgs' ? 'id' : 'org_id');
    // As system (outside any request) both orgs are there: the fixture is real.
    for (const table of ['orgs', 'projects', 'secrets', 'secret_versions', 'api_tokens', 'memberships', 'sessions', 'data_keys', 'audit_events']) {
      const orgs = new Set((await everything(table)).map((row) => row[orgColumn(table)]));
      assert.ok(orgs.has(org.a) && orgs.has(org.b), `${table} holds rows of both orgs`);
    }
    for (const [self, other] of [
      [org.a, org.b],
      [org.b, org.a],
    ] as const) {
      await tenancy.runAsOrg(self, async () => {
        for (const table of [...(await tablesWithOrgId(srv.db)), 'orgs']) {
          const rows = await everything(table);
          const foreign = rows.filter((row) => row[orgColumn(table)] !== self);
          assert.deepEqual(foreign, [], `${table}: ${foreign.length} row(s) of another org (or of none) visible`);
        }
        const secrets = await srv.db.selectFrom('secrets').selectAll().execute();
        assert.ok(secrets.length > 0 && secrets.every((s) => s.org_id === self));
        // The child tables: only rows whose parent row is visible.
        const grants = await srv.db.selectFrom('api_token_grants').innerJoin('api_tokens', 'api_tokens.id', 'api_token_grants.token_id').select('api_tokens.org_id').execute();
        const allGrants = await srv.db.selectFrom('api_token_grants').select('token_id').execute();
        assert.equal(grants.length, allGrants.length, 'every visible grant belongs to a visible token');
        const used = await srv.db.selectFrom('used_refresh_tokens').innerJoin('sessions', 'sessions.id', 'used_refresh_tokens.session_id').select('sessions.org_id').execute();
        const allUsed = await srv.db.selectFrom('used_refresh_tokens').select('session_id').execute();
        assert.equal(used.length, allUsed.length);
        assert.ok(used.every((u) => u.org_id === self));
        // Instance-level audit events (org_id NULL) are the instance's, not any org's.
        assert.equal((await srv.db.selectFrom('audit_events').select('id').where('org_id', 'is', null).execute()).length, 0);
        assert.equal((await srv.db.selectFrom('orgs').select('id').where('id', '=', other).execute()).length, 0);
      });
    }
  });

  it("inside org A's context a write of org B's rows is refused: an INSERT or a move by WITH CHECK, an UPDATE or DELETE finds nothing", async (t) => {
    if (!onPostgres(t)) return;
    const { tenancy } = srv.keynest.storage;
    const bProject = await srv.db.selectFrom('projects').select(['id', 'name']).where('org_id', '=', org.b).executeTakeFirstOrThrow();
    const aProject = await srv.db.selectFrom('projects').select('id').where('org_id', '=', org.a).executeTakeFirstOrThrow();
    await tenancy.runAsOrg(org.a, async () => {
      const refused = { code: '42501', message: /row-level security/ };
      await assert.rejects(srv.db.insertInto('projects').values({ id: newId('prj'), org_id: org.b, name: 'planted', created_at: Date.now() }).execute(), refused);
      await assert.rejects(srv.db.updateTable('projects').set({ org_id: org.b }).where('id', '=', aProject.id).execute(), refused);
      await assert.rejects(
        srv.db.insertInto('memberships').values({ org_id: org.b, user_id: (await srv.db.selectFrom('users').select('id').executeTakeFirstOrThrow()).id, role: 'owner', created_at: Date.now() }).execute(),
        refused,
      );
      await assert.rejects(srv.db.insertInto('audit_events').values({ org_id: null, at: Date.now(), action: 'planted', outcome: 'success', actor_type: 'system', details: '{}' }).execute(), refused);
      const renamed = await srv.db.updateTable('projects').set({ name: 'taken' }).where('id', '=', bProject.id).executeTakeFirst();
      assert.equal(renamed.numUpdatedRows, 0n);
      const deleted = await srv.db.deleteFrom('secrets').where('org_id', '=', org.b).executeTakeFirst();
      assert.equal(deleted.numDeletedRows, 0n);
    });
    const after = await srv.db.selectFrom('projects').select('name').where('id', '=', bProject.id).executeTakeFirstOrThrow();
    assert.equal(after.name, bProject.name);
    assert.ok((await srv.db.selectFrom('secrets').select('id').where('org_id', '=', org.b).execute()).length > 0);
  });

  it('a connection that never set a tenant context sees no tenant rows at all (fail closed)', async (t) => {
    if (!onPostgres(t)) return;
    const client = new pg.Client({ connectionString: process.env.KEYNEST_TEST_DATABASE_URL, options: `-c search_path=${srv.schema}` });
    await client.connect();
    try {
      await client.query(`select set_config('role', 'keynest_app', false)`);
      for (const table of ['orgs', 'projects', 'secrets', 'memberships', 'audit_events', 'api_token_grants']) {
        const r = await client.query<{ n: number }>(`select count(*)::int as n from ${client.escapeIdentifier(table)}`);
        assert.equal(r.rows[0]!.n, 0, table);
      }
    } finally {
      await client.end();
    }
  });

  it('the settings follow the context from one query to the next on the same pooled connections', async (t) => {
    if (!onPostgres(t)) return;
    const { tenancy } = srv.keynest.storage;
    const seen = () => sql<{ org: string; scope: string }>`select current_setting('keynest.org_id', true) as org, current_setting('keynest.scope', true) as scope`.execute(srv.db);
    // Interleaved, on a pool of a few connections: each query sees the context it ran in, never the last one's.
    const runs = Array.from({ length: 60 }, (_, i) => {
      const o = [org.a, org.b][i % 2]!;
      return i % 3 === 0 ? tenancy.runAsSystem(async () => ({ want: { org: '', scope: 'system' }, got: (await seen()).rows[0] })) : tenancy.runAsOrg(o, async () => ({ want: { org: o, scope: 'org' }, got: (await seen()).rows[0] }));
    });
    for (const r of await Promise.all(runs)) assert.deepEqual(r.got, r.want);
    // A transaction that rolls back leaves the connection's context as it was set before BEGIN.
    await tenancy.runAsOrg(org.a, async () => {
      await assert.rejects(
        srv.db.transaction().execute(async (trx) => {
          await trx.selectFrom('projects').select('id').execute();
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.deepEqual((await seen()).rows[0], { org: org.a, scope: 'org' });
    });
  });

  it("the real app: a request of org A's owner takes its connections as system only to authenticate, then as org A", async (t) => {
    if (!onPostgres(t)) return;
    const { tenancy } = srv.keynest.storage;
    // The audit stream's consumers (sinks, alerts) take connections of their own in the background,
    // as each org in turn: this test counts the request's. Nothing later in this file needs them.
    await srv.keynest.auditSinkDispatcher.stop();
    const seen: TenantContext[] = [];
    const current = tenancy.current.bind(tenancy);
    // Every connection the app takes from its pool asks for the context here (BoundDriver).
    tenancy.current = () => {
      const ctx = current();
      seen.push({ ...ctx });
      return ctx;
    };
    try {
      for (const [call, orgId] of [
        [a, org.a],
        [b, org.b],
      ] as const) {
        seen.length = 0;
        const res = await call('PUT', '/api/v1/projects/app/environments/production/secrets/CONTEXT_PROBE', { value: `v-${orgId}` });
        assert.equal(res.status, 200, res.text);
        const orgs = seen.filter((c) => c.scope === 'org');
        assert.ok(orgs.length > 0, 'the write ran in an org context');
        assert.deepEqual(new Set(orgs.map((c) => c.orgId)), new Set([orgId]));
        // System comes first (the authentication lookups), never after the org took over.
        const firstOrg = seen.findIndex((c) => c.scope === 'org');
        assert.ok(seen.slice(firstOrg).every((c) => c.scope === 'org'), JSON.stringify(seen));
      }
    } finally {
      tenancy.current = current;
    }
  });

  it("the audit group commit writes records of several orgs (and of none) arriving together, whichever request's context it starts in", async (t) => {
    if (!onPostgres(t)) return;
    const { tenancy } = srv.keynest.storage;
    const { audit } = srv.keynest.services;
    const requestId = `rq-${newId('x')}`;
    const record = (orgId: string | null) => audit.recordAlone({ orgId, actor: { type: 'system', id: null }, ip: null, requestId, now: Date.now() }, { action: 'test.group' });
    // All three arrive in one turn, from org A's context: three groups, one a chain.
    await tenancy.runAsOrg(org.a, () => Promise.all([record(org.a), record(org.b), record(null)]));
    // One org's group from another org's context.
    await tenancy.runAsOrg(org.a, () => Promise.all([record(org.b), record(org.b)]));
    const rows = await srv.db.selectFrom('audit_events').select('org_id').where('request_id', '=', requestId).execute();
    assert.deepEqual(rows.map((r) => r.org_id ?? 'none').sort(), [org.a, org.b, org.b, org.b, 'none'].sort());
  });

  it("an HTTP request runs in its caller's org from authentication to handler (with or without a body); concurrent requests of two orgs never share a context", async (t) => {
    if (!onPostgres(t)) return;
    const { tenancy } = srv.keynest.storage;
    const tokenOf = (c: string) => `eyJ${c.repeat(20)}.eyJ${c.repeat(20)}.${c.repeat(43)}`;
    const orgOfToken = new Map([
      [tokenOf('A'), org.a],
      [tokenOf('B'), org.b],
    ]);
    const jitter = () => new Promise((r) => setTimeout(r, Math.random() * 5));
    const app = Fastify();
    registerErrorHandling(app);
    registerAccessControl(app, {
      sessions: {
        authenticate: async (token: string) => {
          await jitter();
          // Authentication itself reads across orgs (a session by id): it runs as system.
          assert.equal(tenancy.current().scope, 'system');
          const orgId = orgOfToken.get(token);
          return orgId ? principalOf(orgId) : null;
        },
      },
      tokens: { authenticate: async () => null },
      projects: { resolve: async () => Promise.reject(new Error('not used')) },
      allowlist: { enforce: async () => 'open' as const, admitsAtOnce: () => true },
      audit: { recordAlone: async () => {} },
      clock: () => Date.now(),
      stepUp: { maxAgeMs: 600_000, environments: new Set(['production']) },
      tenancy,
    });
    const probe = async (req: FastifyRequest) => {
      await jitter();
      const rows = await srv.db.selectFrom('projects').select('org_id').execute();
      const setting = await sql<{ org: string }>`select current_setting('keynest.org_id', true) as org`.execute(srv.db);
      return { context: { ...tenancy.current() }, orgs: [...new Set(rows.map((r) => r.org_id))], setting: setting.rows[0]!.org, body: req.body ?? null };
    };
    app.get('/probe', { config: { access: { permission: 'project:read' } } }, probe);
    app.post('/probe', { config: { access: { permission: 'project:read' } } }, probe);
    app.get('/public', { config: { access: { public: 'a test route' } } }, async () => ({ context: { ...tenancy.current() } }));
    // A real socket, so that a body arrives (and is parsed) in the request stream's own events.
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const runs = Array.from({ length: 40 }, async (_, i) => {
        const [letter, orgId] = i % 2 ? (['B', org.b] as const) : (['A', org.a] as const);
        const post = i % 4 < 2;
        const res = await fetch(`${base}/probe`, {
          method: post ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${tokenOf(letter)}`, ...(post ? { 'content-type': 'application/json' } : {}) },
          // The body arrives after the hooks have run, so it is parsed in the socket's events.
          ...(post ? { body: lateBody(JSON.stringify({ i })), duplex: 'half' } : {}),
        } as RequestInit);
        const text = await res.text();
        assert.equal(res.status, 200, text);
        assert.deepEqual(JSON.parse(text), { context: { scope: 'org', orgId }, orgs: [orgId], setting: orgId, body: post ? { i } : null }, `request ${i}`);
      });
      await Promise.all(runs);
      assert.deepEqual(await (await fetch(`${base}/public`)).json(), { context: { scope: 'system', orgId: null } });
    } finally {
      await app.close();
    }
  });
});

function lateBody(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      await new Promise((r) => setTimeout(r, 20));
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
}

function principalOf(orgId: string): UserPrincipal {
  return { type: 'user', orgId, userId: 'usr_probe', email: 'probe@example.com', role: 'owner', access: compileAccess(builtinRules('owner')), sessionId: 'ses_probe', authenticatedAt: Date.now(), mustEnrolTwoFactor: false };
}
