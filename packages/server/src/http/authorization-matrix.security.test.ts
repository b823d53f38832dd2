import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Role } from '../access/permissions.js';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, request, setupOwner, signIn, type ApiAnswer, type SignedInSession } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { addMember, createProject, createToken, putSecret } from '../test-support/fixtures.js';
import { liveRoutes, routeId, type LiveRoute } from '../test-support/routes.js';
import { startServer } from '../test-support/server.js';

/**
 * Who may call what, written out route by route (not derived from the routes' own rules, so that a
 * wrong rule shows): the least role that may call it, and what an API token (scoped to
 * app/development) may do there. `self` is any signed-in user about their own account; `public`
 * needs nothing. A route missing here fails the test.
 */
type TokenKind = 'read-only' | 'write' | 'deploy' | 'admin' | 'keys';
const TOKEN_KINDS: TokenKind[] = ['read-only', 'write', 'deploy', 'admin', 'keys'];
/** `scraper`: only the metrics scraper's own token (KEYNEST_METRICS_TOKEN); every user and API token gets 401. */
type Rule = 'public' | 'scraper' | { least: Role | 'self'; tokens: readonly TokenKind[]; custom: boolean };
/**
 * `custom`: whether a member holding CUSTOM_ROLE may call it (at app/development); unless said, a
 * viewer's routes only.
 */
const S = (least: Role | 'self', tokens: readonly TokenKind[] = [], custom = least === 'self' || least === 'viewer'): Rule => ({ least, tokens, custom });
/**
 * The custom-role principal: project metadata and keys everywhere, values in development only,
 * writes in production only, and the members list (org-level). So at app/development it reads
 * values but writes nothing, and runs nothing of the org.
 */
const CUSTOM_ROLE = {
  name: 'Matrix mixed',
  rules: [
    { permissions: ['project:read', 'secret:read_keys'] },
    { permissions: ['secret:read_values'], environments: ['development'] },
    { permissions: ['secret:write', 'secret:delete'], environments: ['production'] },
    { permissions: ['member:read'] },
  ],
};
/** Which tokens (all scoped to app/development) may: read values; see projects, keys and versions; change secrets. */
const VALUES: TokenKind[] = ['read-only', 'write', 'deploy', 'admin'];
const KEYS: TokenKind[] = ['read-only', 'write', 'admin', 'keys'];
const WRITE: TokenKind[] = ['write', 'admin'];
const MATRIX: Record<string, Rule> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /api/v1/openapi.json': 'public',
  'GET /.well-known/jwks.json': 'public',
  'GET /api/v1/setup': 'public',
  'POST /api/v1/setup': 'public',
  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/refresh': 'public',
  'POST /api/v1/auth/signup': 'public',
  'POST /api/v1/auth/signup/verify': 'public',
  'POST /api/v1/auth/invitations/accept': 'public',
  'POST /api/v1/auth/password-reset': 'public',
  'POST /api/v1/auth/password-reset/confirm': 'public',
  'POST /api/v1/auth/verify-email': 'public',
  'POST /api/v1/auth/emergency-access': 'public',
  'POST /api/v1/auth/emergency-access/confirm': 'public',
  'GET /api/v1/me': S('self', TOKEN_KINDS),
  'POST /api/v1/auth/logout': S('self'),
  'POST /api/v1/auth/reauth': S('self'),
  'POST /api/v1/me/password': S('self'),
  'POST /api/v1/me/email/verification': S('self'),
  'GET /api/v1/me/2fa': S('self'),
  'POST /api/v1/me/2fa/totp': S('self'),
  'POST /api/v1/me/2fa/totp/confirm': S('self'),
  'POST /api/v1/me/2fa/disable': S('self'),
  'POST /api/v1/me/2fa/backup-codes': S('self'),
  'GET /api/v1/me/sessions': S('self'),
  'DELETE /api/v1/me/sessions': S('self'),
  'DELETE /api/v1/me/sessions/:id': S('self'),
  'POST /api/v1/me/sessions/revoke-others': S('self'),
  'GET /api/v1/projects': S('viewer', KEYS),
  'POST /api/v1/projects': S('developer'),
  'GET /api/v1/projects/:project': S('viewer', KEYS),
  'DELETE /api/v1/projects/:project': S('admin'),
  'GET /api/v1/projects/:project/environments': S('viewer', KEYS),
  'POST /api/v1/projects/:project/environments': S('developer'),
  'DELETE /api/v1/projects/:project/environments/:env': S('developer'),
  'GET /api/v1/projects/:project/environments/:env/secrets': S('developer', VALUES, true),
  'PATCH /api/v1/projects/:project/environments/:env/secrets': S('developer', WRITE),
  'GET /api/v1/projects/:project/environments/:env/secrets/:key': S('developer', VALUES, true),
  'PUT /api/v1/projects/:project/environments/:env/secrets/:key': S('developer', WRITE),
  'DELETE /api/v1/projects/:project/environments/:env/secrets/:key': S('developer', WRITE),
  'POST /api/v1/projects/:project/environments/:env/secrets/:key/restore': S('developer', WRITE),
  'GET /api/v1/projects/:project/environments/:env/secrets/:key/versions': S('viewer', KEYS),
  'POST /api/v1/projects/:project/environments/:env/secrets/:key/rollback': S('developer', WRITE),
  'GET /api/v1/tokens': S('admin'),
  'POST /api/v1/tokens': S('admin'),
  'DELETE /api/v1/tokens/:id': S('admin'),
  'POST /api/v1/tokens/:id/rotate': S('admin'),
  'PUT /api/v1/tokens/:id/client-cert': S('admin'),
  'DELETE /api/v1/tokens/:id/client-cert': S('admin'),
  'GET /api/v1/audit': S('admin'),
  'GET /api/v1/audit/verify': S('admin'),
  'GET /api/v1/audit/export': S('admin'),
  'GET /api/v1/audit/checkpoints': S('admin'),
  'POST /api/v1/audit/checkpoints': S('admin'),
  'POST /api/v1/audit/hash': S('admin'),
  'GET /api/v1/alerts': S('admin'),
  'GET /api/v1/alerts/rules': S('admin'),
  'PUT /api/v1/alerts/rules/:rule': S('admin'),
  'GET /api/v1/security/status': S('admin'),
  'GET /metrics': 'scraper',
  'GET /api/v1/audit/sinks': S('admin'),
  'POST /api/v1/audit/sinks': S('admin'),
  'DELETE /api/v1/audit/sinks/:id': S('admin'),
  'POST /api/v1/audit/sinks/:id/test': S('admin'),
  'GET /api/v1/org/members': S('viewer'),
  'PATCH /api/v1/org/members/:userId': S('admin'),
  'DELETE /api/v1/org/members/:userId': S('admin'),
  'GET /api/v1/projects/:project/member-roles': S('viewer'),
  'PUT /api/v1/projects/:project/member-roles/:userId': S('admin'),
  'DELETE /api/v1/projects/:project/member-roles/:userId': S('admin'),
  'GET /api/v1/role-templates': S('viewer'),
  'GET /api/v1/roles': S('viewer'),
  'GET /api/v1/roles/:role': S('viewer'),
  'POST /api/v1/roles': S('admin'),
  'PATCH /api/v1/roles/:role': S('admin'),
  'DELETE /api/v1/roles/:role': S('admin'),
  'GET /api/v1/org/invitations': S('admin'),
  'POST /api/v1/org/invitations': S('admin'),
  'DELETE /api/v1/org/invitations/:id': S('admin'),
  'GET /api/v1/org/settings': S('admin'),
  'PATCH /api/v1/org/settings': S('admin'),
  'GET /api/v1/org/allowlist': S('admin'),
  'PATCH /api/v1/org/allowlist': S('admin'),
  'POST /api/v1/org/allowlist/entries': S('admin'),
  'DELETE /api/v1/org/allowlist/entries/:cidr': S('admin'),
  // Plans: an org's admins read their own; another org's, or a change, is the instance operator's (owner of the first org).
  'GET /api/v1/org/plan': S('admin'),
  'GET /api/v1/orgs/:org/plan': S('owner'),
  'PUT /api/v1/orgs/:org/plan': S('owner'),
  'POST /api/v1/admin/rotate-keys': S('admin'),
  'POST /api/v1/admin/reencrypt': S('admin'),
  'POST /api/v1/admin/rotate-signing-key': S('admin'),
};

const RANK: Record<Role | 'self', number> = { self: 1, viewer: 1, developer: 2, admin: 3, owner: 4 };
const ROLES: Role[] = ['viewer', 'developer', 'admin', 'owner'];
const PASSWORD = 'Matrix-Basalt-Heron-6621';
/** Every write carries this invalid body: an allowed caller gets a 4xx from validation, after authorization, and changes nothing. */
const BODY = { matrixProbe: true };
const METRICS_TOKEN = `matrix-metrics-${'m'.repeat(32)}`;

describe('authorization matrix: every route × every kind of caller', () => {
  const clock = manualClock();
  let srv: TestServer;
  const users: Record<string, { id: string; email: string; session: SignedInSession }> = {};
  let tokens: Record<TokenKind | 'expired' | 'revoked', { token: string; id: string }>;
  let routes: LiveRoute[];
  let customRoleId: string;

  const member = (orgId: string, role: Role, email: string) => addMember(srv.db, { orgId, role, email, password: PASSWORD, now: clock() });

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_TRUST_PROXY: '127.0.0.1', KEYNEST_LOGIN_RATE_IP: '1000/60', KEYNEST_METRICS_TOKEN: METRICS_TOKEN } });
    const ownerSession = await setupOwner(srv);
    const owner = api(srv, ownerSession);
    const org = (await owner('GET', '/api/v1/me')).body.principal.org as { id: string };
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'MATRIX', 'matrix-value-1');
    const expiring = await createToken(owner, { project: 'app', environment: 'development', access: 'read', expiresInSeconds: 60 });
    const revoked = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    assert.equal((await owner('DELETE', `/api/v1/tokens/${revoked.info.id}`)).status, 204);
    const read = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    const write = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    const typed = async (type: string, extra: Record<string, unknown> = {}) => {
      const res = await owner('POST', '/api/v1/tokens', { name: `matrix-${type}`, type, scope: [{ project: 'app', environment: 'development' }], expiresInSeconds: 86_400, ...extra });
      assert.equal(res.status, 201, res.text);
      return { token: res.body.token as string, id: res.body.info.id as string };
    };
    tokens = {
      'read-only': { token: read.token, id: read.info.id },
      write: { token: write.token, id: write.info.id },
      deploy: await typed('deploy'),
      admin: await typed('admin'),
      keys: await typed('custom', { permissions: ['project:read', 'secret:read_keys'] }),
      expired: { token: expiring.token, id: expiring.info.id },
      revoked: { token: revoked.token, id: revoked.info.id },
    };
    clock.advance(61_000);
    // Sacrificial projects and environments, so that an allowed delete never removes what the rest uses.
    for (const who of ROLES) {
      await createProject(owner, `doomed-${who}`);
      assert.equal((await owner('POST', '/api/v1/projects/app/environments', { name: `doomed-${who}` })).status, 201);
    }
    for (const role of ROLES) {
      const email = role === 'owner' ? OWNER.email : `${role}@matrix.test`;
      const id = role === 'owner' ? (await srv.db.selectFrom('users').select('id').where('email', '=', 'owner@example.com').executeTakeFirstOrThrow()).id : await member(org.id, role, email);
      users[role] = { id, email, session: role === 'owner' ? ownerSession : await signIn(srv, { email, password: PASSWORD }) };
    }
    // A member holding the custom role (given through the API, as an admin would).
    const role = await owner('POST', '/api/v1/roles', CUSTOM_ROLE);
    assert.equal(role.status, 201, role.text);
    const customId = await member(org.id, 'viewer', 'custom@matrix.test');
    customRoleId = role.body.role.id;
    assert.equal((await owner('PATCH', `/api/v1/org/members/${customId}`, { roleId: customRoleId })).status, 200);
    users.custom = { id: customId, email: 'custom@matrix.test', session: await signIn(srv, { email: 'custom@matrix.test', password: PASSWORD }) };
    // The owner of another organization.
    const other = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', clock()));
    const strangerId = await member(other.id, 'owner', 'stranger@globex.test');
    users.stranger = { id: strangerId, email: 'stranger@globex.test', session: await signIn(srv, { email: 'stranger@globex.test', password: PASSWORD }) };
    routes = liveRoutes(srv.keynest.app).filter((r) => r.method !== 'HEAD');
  });
  after(() => srv.close());

  /** The path of a route for a caller: real names and ids, except where an allowed call would destroy what others need. */
  function pathFor(r: LiveRoute, caller: string, allowed: boolean): string {
    const doomed = `doomed-${caller}`;
    const params: Record<string, string> = {
      project: allowed && r.method === 'DELETE' && r.url === '/api/v1/projects/:project' ? doomed : 'app',
      env: allowed && r.method === 'DELETE' && r.url.endsWith('/environments/:env') ? doomed : 'development',
      key: 'MATRIX',
      id: allowed ? 'x_unknown' : r.url.startsWith('/api/v1/tokens') ? tokens['read-only'].id : 'x_unknown',
      userId: allowed ? 'usr_unknown' : users.developer!.id,
      cidr: '10.0.0.0/8',
    };
    return r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));
  }

  async function call(r: LiveRoute, credential: string | null, path: string): Promise<ApiAnswer> {
    return request(srv, credential, r.method, path, r.method === 'GET' || r.method === 'DELETE' ? undefined : BODY);
  }

  it('lists every route there is, and nothing else', () => {
    const live = routes.map(routeId).sort();
    assert.deepEqual(live.filter((r) => !(r in MATRIX)), [], 'routes without an entry in the matrix');
    assert.deepEqual(Object.keys(MATRIX).filter((r) => !live.includes(r)), [], 'matrix entries of routes that do not exist');
  });

  it('anonymous, expired and revoked credentials get 401 on every non-public route', async () => {
    for (const r of routes) {
      if (MATRIX[routeId(r)] === 'public') continue;
      for (const [label, credential] of [['anonymous', null], ['expired token', tokens.expired.token], ['revoked token', tokens.revoked.token]] as const) {
        const res = await call(r, credential, pathFor(r, 'nobody', false));
        assert.equal(res.status, 401, `${routeId(r)} as ${label}: ${res.text}`);
      }
    }
  });

  it('each role and each token type: refused exactly where the matrix says (403), let through elsewhere', async () => {
    // `user`: the key of a signed-in caller in `users` (a role, or `custom`).
    const callers: { name: string; role: Role | null; user: string | null; token: TokenKind | null }[] = [
      ...ROLES.map((role) => ({ name: role, role, user: role, token: null })),
      { name: 'custom role', role: null, user: 'custom', token: null },
      ...TOKEN_KINDS.map((token) => ({ name: `${token} token`, role: null, user: null, token })),
    ];
    const allowedFor = (rule: Exclude<Rule, 'public' | 'scraper'>, c: (typeof callers)[number]) =>
      c.role !== null ? RANK[c.role] >= RANK[rule.least] : c.user === 'custom' ? rule.custom : rule.tokens.includes(c.token!);
    // The refusals first: they change nothing, so every later call still finds what it needs.
    for (const phase of ['refused', 'allowed'] as const) {
      for (const r of routes) {
        const rule = MATRIX[routeId(r)]!;
        if (rule === 'public') continue;
        if (rule === 'scraper') {
          // The figures span every org: no role of any org, and no API token, reads them.
          for (const c of phase === 'refused' ? callers : []) {
            const credential = c.token ? tokens[c.token].token : users[c.user!]!.session.accessToken;
            assertError(await call(r, credential, r.url), 401, 'unauthenticated');
          }
          if (phase === 'allowed') assert.equal((await call(r, METRICS_TOKEN, r.url)).status, 200);
          continue;
        }
        for (const c of callers) {
          const allowed = allowedFor(rule, c);
          if ((phase === 'allowed') !== allowed) continue;
          const credential = c.token ? tokens[c.token].token : users[c.user!]!.session.accessToken;
          let res = await call(r, credential, pathFor(r, c.user ?? 'token', allowed));
          // Ending one's own sessions is allowed: sign in again for the next routes.
          if (res.status === 401 && c.user) {
            const fresh = await signIn(srv, { email: users[c.user]!.email, password: c.user === 'owner' ? OWNER.password : PASSWORD });
            users[c.user]!.session = fresh;
            res = await call(r, fresh.accessToken, pathFor(r, c.user, allowed));
          }
          if (allowed) assert.ok(![401, 403].includes(res.status), `${routeId(r)} as ${c.name} should be let through: ${res.status} ${res.text}`);
          else assert.equal(res.status, 403, `${routeId(r)} as ${c.name} should be refused: ${res.status} ${res.text}`);
        }
      }
    }
  });

  it("another organization's owner: another org's projects, roles and ids are missing (404), never forbidden", async () => {
    const stranger = users.stranger!.session.accessToken;
    const foreign = (x: LiveRoute) => x.url.includes(':project') || x.url.startsWith('/api/v1/tokens/') || x.url.startsWith('/api/v1/org/members/') || x.url.startsWith('/api/v1/roles/');
    for (const r of routes.filter(foreign)) {
      const path = r.url
        .replace(':role', customRoleId)
        .replace(':project', 'app')
        .replace(':env', 'development')
        .replace(':key', 'MATRIX')
        .replace(':id', tokens['read-only'].id)
        .replace(':userId', users.developer!.id);
      const res = await call(r, stranger, path);
      assert.ok([404, 400].includes(res.status), `${routeId(r)} by another org's owner: ${res.status} ${res.text}`);
      if (res.status === 400) assert.equal(res.body.error.code, 'validation_failed', `${routeId(r)}: ${res.text}`);
      assert.ok(!res.text.includes('matrix-value-1'));
    }
  });

  it('from an address outside the allowlist, every session and token of the org is refused (403 ip_not_allowed)', async () => {
    const owner = users.owner!.session;
    const enabled = await request(srv, owner.accessToken, 'POST', '/api/v1/org/allowlist/entries', { cidr: '127.0.0.1/32' });
    assert.ok([200, 201].includes(enabled.status), enabled.text);
    assert.equal((await request(srv, owner.accessToken, 'PATCH', '/api/v1/org/allowlist', { enabled: true })).status, 200);
    const outside = { 'x-forwarded-for': '203.0.113.9' };
    for (const r of routes) {
      if (MATRIX[routeId(r)] === 'public' || MATRIX[routeId(r)] === 'scraper') continue;
      for (const credential of [owner.accessToken, users.viewer!.session.accessToken, ...TOKEN_KINDS.map((k) => tokens[k].token)]) {
        const res = await request(srv, credential, r.method, pathFor(r, 'nobody', false), r.method === 'GET' || r.method === 'DELETE' ? undefined : BODY, { headers: outside });
        if (res.status === 401) continue; // a session ended above by an allowed sign-out
        assertError(res, 403, 'ip_not_allowed');
      }
    }
    // An org's allowlist is about that org's credentials: the instance's metrics scraper is not one.
    assert.equal((await request(srv, METRICS_TOKEN, 'GET', '/metrics', undefined, { headers: outside })).status, 200);
    // The other org is not concerned.
    assert.equal((await request(srv, users.stranger!.session.accessToken, 'GET', '/api/v1/projects', undefined, { headers: outside })).status, 200);
  });
});
