import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, request, setupOwner, signIn, type Api, type SignedInSession } from '../test-support/api.js';
import { addMember, createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { liveRoutes, routeId } from '../test-support/routes.js';
import { startServer } from '../test-support/server.js';

const VIEWER = { email: 'viewer@example.com', password: 'Heron-Quartz-Lantern-8842' };

/**
 * A viewer sees keys and metadata, never a value: every route the server has is tried by a viewer,
 * with every query option that could ask for more, and no answer (successes and errors alike) may
 * hold a stored value. The route table is the live one, so a new route is tried without a change here.
 */
describe('keys only: a viewer never sees a value, on any route', () => {
  let srv: TestServer;
  let owner: Api;
  let viewer: SignedInSession;
  let values: string[];

  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'PLAIN', 'keys-only-plain-v1');
    await putSecret(owner, 'app', 'development', 'PLAIN', 'keys-only-plain-v2');
    await putSecret(owner, 'app', 'development', 'REF', '${PLAIN}-and-more');
    await putSecret(owner, 'app', 'development', 'CROSS', '${production.PROD_ONLY}');
    await putSecret(owner, 'app', 'production', 'PROD_ONLY', 'keys-only-production');
    await putSecret(owner, 'app', 'development', 'GONE', 'keys-only-deleted');
    assert.equal((await owner('DELETE', secretsPath('app', 'development', 'GONE'))).status, 204);
    // A viewer of the org, as an admin's invitation makes one.
    const org = (await owner('GET', '/api/v1/me')).body.principal.org;
    await addMember(srv.db, { orgId: org.id, role: 'viewer', ...VIEWER, now: Date.now() });
    viewer = await signIn(srv, VIEWER);
    values = await srv.storedValues();
    assert.ok(values.includes('keys-only-plain-v1') && values.includes('keys-only-production'));
  });
  after(() => srv.close());

  const leaked = (text: string) => values.filter((v) => text.includes(v));

  it('sees keys, versions and history, without values', async () => {
    const call = api(srv, viewer);
    const keys = await call('GET', `${secretsPath('app', 'development')}?values=false&includeDeleted=true`);
    assert.equal(keys.status, 200, keys.text);
    assert.deepEqual(keys.body.secrets.map((s: { key: string }) => s.key).sort(), ['CROSS', 'GONE', 'PLAIN', 'REF']);
    for (const s of keys.body.secrets) assert.equal(s.value, undefined);
    const history = await call('GET', `${secretsPath('app', 'development', 'PLAIN')}/versions`);
    assert.equal(history.status, 200, history.text);
    assert.equal(history.body.versions.length, 2);
    assert.deepEqual(leaked(keys.text + history.text), []);
  });

  it('is refused every value: one, all, raw, resolved, deleted, another environment (403, nothing in the answer)', async () => {
    const call = api(srv, viewer);
    for (const path of [
      secretsPath('app', 'development'),
      `${secretsPath('app', 'development')}?raw=true`,
      `${secretsPath('app', 'development')}?values=true&includeDeleted=true`,
      secretsPath('app', 'development', 'PLAIN'),
      `${secretsPath('app', 'development', 'REF')}?raw=true`,
      secretsPath('app', 'development', 'CROSS'),
      secretsPath('app', 'development', 'GONE'),
      secretsPath('app', 'production', 'PROD_ONLY'),
    ]) {
      const res = await call('GET', path);
      assertError(res, 403, 'forbidden');
      assert.deepEqual(leaked(res.text), [], path);
    }
  });

  it('tries every route of the server, with every query option: no answer holds a value', async () => {
    const params: Record<string, string> = { project: 'app', env: 'development', key: 'PLAIN', version: '1', id: 'x', userId: 'x', cidr: '10.0.0.0%2F8' };
    const tried: string[] = [];
    let signIns = 0;
    for (const r of liveRoutes(srv.keynest.app)) {
      const path = r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));
      for (const query of ['', '?values=true&raw=true&includeDeleted=true', '?raw=true']) {
        // A write carries a value of its own, so that an echo would show too; nothing the viewer may do changes a secret.
        const body = r.method === 'GET' || r.method === 'HEAD' || r.method === 'DELETE' ? undefined : { value: 'viewer-write-attempt', version: 1 };
        let res = await request(srv, viewer.accessToken, r.method, `${path}${query}`, body);
        // Signing out (or ending one's sessions) is allowed: sign in again so the next routes are tried for real.
        if (res.status === 401) {
          viewer = await signIn(srv, VIEWER);
          signIns++;
          res = await request(srv, viewer.accessToken, r.method, `${path}${query}`, body);
        }
        assert.ok(res.status < 500, `${routeId(r)}${query}: ${res.status} ${res.text}`);
        assert.deepEqual(leaked(res.text), [], `${routeId(r)}${query} leaked a value`);
        assert.ok(!res.text.includes('viewer-write-attempt'), `${routeId(r)}${query} echoed the value sent`);
      }
      tried.push(routeId(r));
    }
    assert.ok(tried.length >= 40, `only ${tried.length} routes tried`);
    assert.ok(signIns < 15, `the session ended ${signIns} times`);
    // And nothing was written: the viewer's attempts changed no secret.
    assert.deepEqual((await srv.storedValues()).sort(), [...values].sort());
  });

  it('a keys-only API token (custom: project:read, secret:read_keys) sees keys, never a value, on any route', async () => {
    const created = await owner('POST', '/api/v1/tokens', {
      name: 'keys-only',
      type: 'custom',
      permissions: ['project:read', 'secret:read_keys'],
      scope: [{ project: 'app' }],
      expiresInSeconds: 3600,
    });
    assert.equal(created.status, 201, created.text);
    const token: string = created.body.token;
    const keys = await request(srv, token, 'GET', `${secretsPath('app', 'development')}?values=false`);
    assert.equal(keys.status, 200, keys.text);
    assert.ok(keys.body.secrets.length >= 3);
    for (const path of [secretsPath('app', 'development'), secretsPath('app', 'development', 'PLAIN'), secretsPath('app', 'development', 'CROSS'), secretsPath('app', 'production', 'PROD_ONLY')]) {
      assertError(await request(srv, token, 'GET', path), 403, 'forbidden');
    }
    const params: Record<string, string> = { project: 'app', env: 'development', key: 'REF', version: '1', id: 'x', userId: 'x', cidr: '10.0.0.0%2F8' };
    for (const r of liveRoutes(srv.keynest.app)) {
      const path = r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));
      for (const query of ['', '?values=true&raw=true&includeDeleted=true']) {
        const res = await request(srv, token, r.method, `${path}${query}`, r.method === 'GET' || r.method === 'HEAD' || r.method === 'DELETE' ? undefined : { value: 'token-write-attempt' });
        assert.ok(res.status < 500, `${routeId(r)}: ${res.status}`);
        assert.deepEqual(leaked(res.text), [], `${routeId(r)}${query} leaked a value to a keys-only token`);
      }
    }
    assert.deepEqual((await srv.storedValues()).sort(), [...values].sort());
  });

  it('a custom role with values in development and keys only in production never gets a production value, on any route', async () => {
    const role = await owner('POST', '/api/v1/roles', {
      name: 'Dev values prod keys',
      rules: [
        { permissions: ['project:read', 'secret:read_keys', 'secret:read_values'], environments: ['development'] },
        { permissions: ['project:read', 'secret:read_keys'], environments: ['production'] },
      ],
    });
    assert.equal(role.status, 201, role.text);
    const org = (await owner('GET', '/api/v1/me')).body.principal.org;
    const who = { email: 'contractor@example.com', password: VIEWER.password };
    const id = await addMember(srv.db, { orgId: org.id, role: 'viewer', ...who, now: Date.now() });
    assert.equal((await owner('PATCH', `/api/v1/org/members/${id}`, { roleId: role.body.role.id })).status, 200);
    let session = await signIn(srv, who);
    const production = values.filter((v) => v === 'keys-only-production');
    const leakedProd = (text: string) => production.filter((v) => text.includes(v));
    const call = api(srv, session);
    // Development values: yes. Production: keys and history only; a development value that
    // references production is refused, not resolved.
    assert.equal((await call('GET', secretsPath('app', 'development', 'PLAIN'))).body.value, 'keys-only-plain-v2');
    const keys = await call('GET', `${secretsPath('app', 'production')}?values=false`);
    assert.equal(keys.status, 200, keys.text);
    assert.deepEqual(keys.body.secrets.map((s: { key: string }) => s.key), ['PROD_ONLY']);
    assert.equal((await call('GET', `${secretsPath('app', 'production', 'PROD_ONLY')}/versions`)).status, 200);
    for (const path of [secretsPath('app', 'production'), `${secretsPath('app', 'production')}?raw=true`, secretsPath('app', 'production', 'PROD_ONLY')]) {
      const res = await call('GET', path);
      assertError(res, 403, 'forbidden');
    }
    const cross = await call('GET', secretsPath('app', 'development', 'CROSS'));
    assert.equal(cross.status, 403, cross.text);
    assert.deepEqual(leakedProd(cross.text), []);
    const all = await call('GET', `${secretsPath('app', 'development')}?values=true`);
    assert.ok(all.status === 403 || all.status === 200, all.text);
    assert.deepEqual(leakedProd(all.text), [], 'the development listing resolves no production reference');
    // And every route, in both environments, with every option.
    for (const env of ['production', 'development']) {
      const params: Record<string, string> = { project: 'app', env, key: env === 'production' ? 'PROD_ONLY' : 'CROSS', version: '1', id: 'x', userId: 'x', cidr: '10.0.0.0%2F8', role: 'x' };
      for (const r of liveRoutes(srv.keynest.app)) {
        const path = r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));
        for (const query of ['', '?values=true&raw=true&includeDeleted=true', '?raw=true']) {
          const body = r.method === 'GET' || r.method === 'HEAD' || r.method === 'DELETE' ? undefined : { value: 'custom-write-attempt', version: 1 };
          let res = await request(srv, session.accessToken, r.method, `${path}${query}`, body);
          if (res.status === 401) {
            session = await signIn(srv, who);
            res = await request(srv, session.accessToken, r.method, `${path}${query}`, body);
          }
          assert.ok(res.status < 500, `${routeId(r)}${query}: ${res.status} ${res.text}`);
          assert.deepEqual(leakedProd(res.text), [], `${routeId(r)}${query} (${env}) leaked a production value`);
        }
      }
    }
    assert.deepEqual((await srv.storedValues()).sort(), [...values].sort());
  });
});
