import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { after, before, describe, it } from 'node:test';
import { builtinAccess } from '../access/policy.js';
import type { UserPrincipal } from '../access/principal.js';
import { registerErrorHandling } from './errors.js';
import { registerAccessControl } from './access.js';
import { Tenancy } from '../storage/tenancy.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, request, setupOwner, signIn, type ApiAnswer } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, putSecret } from '../test-support/fixtures.js';
import { documentedRoutes, liveRoutes, routeId, type LiveRoute } from '../test-support/routes.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeCa, makeLeaf } from '../tls/test-certs.test-util.js';
import { setupOwnerOverTls, tlsApi, tlsRequest, type TlsClient } from '../tls/test-https.test-util.js';

/**
 * The routes open to anyone. HEAD twins of public GETs are Fastify's automatic HEAD routes: the
 * same handler and the same access rule, answering without a body.
 */
const PUBLIC = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /api/v1/openapi.json',
  'GET /api/v1/setup',
  'POST /api/v1/setup',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/password-reset',
  'POST /api/v1/auth/password-reset/confirm',
  'POST /api/v1/auth/verify-email',
  'POST /api/v1/auth/signup',
  'POST /api/v1/auth/signup/verify',
  'POST /api/v1/auth/invitations/accept',
  'POST /api/v1/auth/emergency-access',
  'POST /api/v1/auth/emergency-access/confirm',
  'HEAD /healthz',
  'HEAD /readyz',
  'HEAD /api/v1/openapi.json',
  'HEAD /api/v1/setup',
  'POST /api/v1/auth/refresh',
  'GET /.well-known/jwks.json',
  'HEAD /.well-known/jwks.json',
]);

/** With it, GET /metrics exists on the main port (answering that token only). */
const METRICS_TOKEN = `route-access-metrics-${'r'.repeat(32)}`;

/** A token with the header and claims of a real access token, and whatever signature we like. */
function reforge(realAccessToken: string, header: Record<string, unknown>, signature: string): string {
  const [h, payload] = realAccessToken.split('.');
  const realHeader = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${Buffer.from(JSON.stringify({ ...realHeader, ...header })).toString('base64url')}.${payload}.${signature}`;
}

describe('every non-public route refuses callers without valid credentials', () => {
  const clock = manualClock();
  let srv: TestServer;
  let routes: LiveRoute[];
  const creds: Record<string, string | null> = {};
  let params: Record<string, string>;

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_SESSION_TTL_S: '3600', KEYNEST_METRICS_TOKEN: METRICS_TOKEN } });
    const owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'KEY', 'route-access-value');
    const write = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    assert.equal((await owner('DELETE', `/api/v1/tokens/${write.info.id}`)).status, 204);
    const loggedOut = (await signIn(srv, { email: OWNER.email, password: OWNER.password })).accessToken;
    assert.equal((await api(srv, loggedOut)('POST', '/api/v1/auth/logout')).status, 204);
    const expiring = await createToken(owner, { project: 'app', environment: 'development', access: 'write', expiresInSeconds: 60 });
    const live = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    const expiredSession = (await signIn(srv, { email: OWNER.email, password: OWNER.password })).accessToken;
    // A session that stays alive: forgeries carry its real claims, so only the signature is wrong.
    const alive = await signIn(srv, { email: OWNER.email, password: OWNER.password, rememberMe: true });
    clock.advance(3_600_000);
    assert.ok(await alive.renew(), 'the remembered session is still alive');
    creds['live claims, alg none'] = reforge(alive.accessToken, { alg: 'none' }, '');
    creds['live claims, alg HS256 keyed with the public key'] = reforge(alive.accessToken, { alg: 'HS256' }, alive.accessToken.split('.')[2]!);
    creds['live claims, signature of another token'] = reforge(alive.accessToken, {}, expiredSession.split('.')[2]!);
    creds['live claims, unknown kid'] = reforge(alive.accessToken, { kid: 'key_unknown' }, alive.accessToken.split('.')[2]!);
    creds['live session refresh token as bearer'] = alive.refreshToken;
    // Real names and ids, so that a route missing its check would answer 2xx, not 404.
    params = { project: 'app', env: 'development', key: 'KEY', id: live.info.id };
    creds['no token'] = null;
    creds['garbage token'] = 'garbage';
    creds['JWT-shaped junk'] = `eyJ${'A'.repeat(20)}.eyJ${'A'.repeat(20)}.${'A'.repeat(43)}`;
    creds['well-formed unknown API token'] = `kn_api_${'A'.repeat(43)}`;
    creds['setup token'] = srv.setupToken;
    creds['revoked API token'] = write.token;
    creds['logged-out session'] = loggedOut;
    creds['expired session'] = expiredSession;
    creds['expired API token'] = expiring.token;
    // The scraper's token opens /metrics (skipped below) and nothing else.
    creds['metrics token'] = METRICS_TOKEN;
    routes = liveRoutes(srv.keynest.app);
  });
  after(() => srv.close());

  it('reads the live route table completely (cross-checked against the OpenAPI document)', () => {
    const live = new Set(routes.map(routeId));
    assert.ok(routes.length >= 30, `only ${routes.length} routes parsed`);
    for (const r of documentedRoutes(srv.keynest.app)) assert.ok(live.has(routeId(r)), `${routeId(r)} documented but not parsed`);
    for (const p of PUBLIC) assert.ok(live.has(p), `public route ${p} not found`);
    // Every GET has its HEAD twin, so HEAD must be covered as well.
    for (const r of routes.filter((x) => x.method === 'GET')) assert.ok(live.has(`HEAD ${r.url}`), `no HEAD for ${r.url}`);
  });

  const send = (r: LiveRoute, token: string | null): Promise<ApiAnswer> => {
    const url = r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));
    return request(srv, token, r.method, url);
  };

  it('answers 401 unauthenticated on every non-public route, for every kind of bad credential', async () => {
    const checked: string[] = [];
    for (const r of routes) {
      if (PUBLIC.has(routeId(r))) continue;
      for (const [label, token] of Object.entries(creds)) {
        if (label === 'metrics token' && r.url === '/metrics') continue;
        const res = await send(r, token);
        if (r.method === 'HEAD') assert.equal(res.status, 401, `${routeId(r)} with ${label}: ${res.status}`);
        else assertError(res, 401, 'unauthenticated');
        assert.ok(!res.text.includes('route-access-value'), `${routeId(r)} leaked a value`);
      }
      checked.push(routeId(r));
    }
    assert.ok(checked.length >= 22, `only ${checked.length} protected routes`);
  });

  it('the public set is exactly the documented one: no other route answers a caller without credentials', async () => {
    const open: string[] = [];
    for (const r of routes) {
      const res = await send(r, null);
      if (res.status !== 401) open.push(routeId(r));
    }
    assert.deepEqual(open.sort(), [...PUBLIC].sort());
  });

  it('public routes answer as documented without credentials', async () => {
    const call = api(srv);
    assert.deepEqual((await call('GET', '/healthz')).body, { status: 'ok' });
    // One status word per component: nothing a caller could learn the deployment from.
    assert.deepEqual((await call('GET', '/readyz')).body, { status: 'ready', database: 'up', redis: 'off', keyring: 'ready' });
    const doc = await call('GET', '/api/v1/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.0.3');
    assert.deepEqual((await call('GET', '/api/v1/setup')).body, { setupRequired: false });
    assertError(await call('POST', '/api/v1/auth/login', { email: OWNER.email, password: 'wrong-password' }), 401, 'invalid_credentials');
    assertError(await call('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken }), 409, 'already_set_up');
    assertError(await call('POST', '/api/v1/auth/refresh', {}), 401, 'invalid_refresh_token');
    const jwks = await call('GET', '/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assert.ok(jwks.body.keys.length >= 1);
    for (const k of jwks.body.keys) assert.deepEqual(Object.keys(k).filter((f) => ['d', 'p', 'q', 'dp', 'dq', 'qi'].includes(f)), [], 'no private key parts');
  });
});

describe('registerAccessControl: deny by default at start-up', () => {
  const principal: UserPrincipal = { type: 'user', orgId: 'org_1', userId: 'usr_1', email: 'a@b.c', role: 'owner', access: builtinAccess('owner'), sessionId: 'ses_1', authenticatedAt: Date.now(), mustEnrolTwoFactor: false };
  const goodToken = `eyJ${'B'.repeat(20)}.eyJ${'B'.repeat(20)}.${'B'.repeat(43)}`;
  const deps = {
    sessions: { authenticate: async (t: string) => (t === goodToken ? principal : null) },
    tokens: { authenticate: async () => null, authenticateClientCert: async () => null },
    projects: {
      resolve: async () => {
        throw new Error('not used');
      },
    },
    allowlist: { enforce: async () => 'open' as const, admitsAtOnce: () => false },
    audit: { recordAlone: async () => {} },
    clock: () => Date.now(),
    stepUp: { maxAgeMs: 600_000, environments: new Set(['production']) },
    tenancy: new Tenancy(false),
  };
  const build = () => {
    const app = Fastify();
    registerErrorHandling(app);
    registerAccessControl(app, deps);
    return app;
  };

  it('refuses to register a route without config.access, at the root and inside plugins', async () => {
    for (const config of [undefined, {}, { access: undefined }]) {
      const app = build();
      await assert.rejects(async () => {
        app.get('/x', { ...(config ? { config } : {}) }, async () => 'x');
        await app.ready();
      }, /GET \/x declares no access rule/);
      await app.close().catch(() => {});
    }
    const app = build();
    await assert.rejects(async () => {
      await app.register(async (child) => {
        child.post('/inner', async () => 'x');
      });
      await app.ready();
    }, /POST \/inner declares no access rule/);
    await app.close().catch(() => {});
  });

  it('a route with a credential of its own answers that credential only', async () => {
    const app = build();
    app.get('/own', { config: { access: { credential: 'test', verify: (req) => req.headers.authorization === 'Bearer own-credential' } } }, async () => ({ ok: true }));
    await app.ready();
    for (const authorization of [undefined, `Bearer ${goodToken}`, 'Bearer own-credential2']) {
      const res = await app.inject({ method: 'GET', url: '/own', headers: authorization ? { authorization } : {} });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error.code, 'unauthenticated');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/own', headers: { authorization: 'Bearer own-credential' } })).statusCode, 200);
    await app.close();
  });

  it('accepts routes that declare a rule, and enforces it', async () => {
    const app = build();
    app.get('/open', { config: { access: { public: 'test' } } }, async () => ({ ok: true }));
    app.get('/me', { config: { access: { authenticated: 'test' } } }, async (req) => ({ user: req.caller?.principal.type }));
    app.get('/perm', { config: { access: { permission: 'project:read' } } }, async () => ({ ok: true }));
    await app.ready();
    assert.equal((await app.inject({ method: 'GET', url: '/open' })).statusCode, 200);
    for (const url of ['/me', '/perm']) {
      const none = await app.inject({ method: 'GET', url });
      assert.equal(none.statusCode, 401);
      assert.equal(none.json().error.code, 'unauthenticated');
      const bad = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer eyJ${'C'.repeat(20)}.eyJ${'C'.repeat(20)}.${'C'.repeat(43)}` } });
      assert.equal(bad.statusCode, 401);
      const good = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${goodToken}` } });
      assert.equal(good.statusCode, 200, good.body);
    }
    await app.close();
  });
});

describe('over mutual TLS, a client certificate bound to no live token opens no route', () => {
  let dir: string;
  let srv: TestServer;
  let client: TlsClient;
  let revokedClient: TlsClient;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-route-mtls-'));
    const ca = makeCa(dir);
    const server = makeLeaf(dir, 'server', { ca });
    const unbound = makeLeaf(dir, 'unbound', { ca, usage: 'client' });
    const revoked = makeLeaf(dir, 'revoked', { ca, usage: 'client' });
    client = { ca: ca.cert, cert: unbound.cert, key: unbound.key };
    revokedClient = { ca: ca.cert, cert: revoked.cert, key: revoked.key };
    srv = await startServer({ env: { KEYNEST_TLS_CERT: server.certFile, KEYNEST_TLS_KEY: server.keyFile, KEYNEST_TLS_CLIENT_CA: ca.certFile } });
    const owner = tlsApi(srv.url, { ca: ca.cert }, await setupOwnerOverTls(srv, { ca: ca.cert }));
    await createProject(owner, 'app');
    const token = await owner('POST', '/api/v1/tokens', { name: 'bound', type: 'admin', scope: [{ project: 'app' }], expiresInSeconds: 86_400, clientCertSha256: revoked.fingerprint });
    assert.equal(token.status, 201, token.text);
    assert.equal((await owner('DELETE', `/api/v1/tokens/${token.body.info.id}`)).status, 204);
  });
  after(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 401 on every non-public route to a CA-signed certificate that is unbound, or bound to a revoked token', async () => {
    const routes = liveRoutes(srv.keynest.app).filter((r) => !PUBLIC.has(routeId(r)) && r.url !== '/metrics');
    assert.ok(routes.length >= 22);
    for (const r of routes) {
      const url = r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(({ project: 'app', env: 'development' } as Record<string, string>)[name] ?? 'x'));
      for (const who of [client, revokedClient]) {
        const res = await tlsRequest(srv.url, who, r.method, url);
        assert.equal(res.status, 401, `${routeId(r)}: ${res.status} ${res.text}`);
      }
    }
  });
});
