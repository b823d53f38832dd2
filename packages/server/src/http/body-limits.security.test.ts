import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { liveRoutes, routeId } from '../test-support/routes.js';
import { jsonDepthExceeds, MAX_JSON_DEPTH, NO_BODY_LIMIT_BYTES } from './body-limits.js';

const LIMIT = 64 * 1024;

/** Bodies are bounded in size on every route and in depth everywhere (docs/http-hardening.md#limits). */
describe('body limits', () => {
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    srv = await startServer({ env: { KEYNEST_BODY_LIMIT_BYTES: String(LIMIT) } });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'KEY', 'v1');
  });
  after(() => srv.close());

  it('every route that takes a body refuses one over its bound with 413 body_too_large, never a 500', async () => {
    const params: Record<string, string> = { project: 'app', env: 'development', key: 'KEY' };
    const writes = liveRoutes(srv.keynest.app).filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
    assert.ok(writes.length >= 30, `only ${writes.length} routes take bodies`);
    const refused: string[] = [];
    for (const r of writes) {
      if (r.url === '/api/v1/auth/logout') continue; // would end the owner's session before its body is read
      const url = r.url.replace(/:([A-Za-z]+)/g, (_, n: string) => encodeURIComponent(params[n] ?? 'x'));
      const res = await owner(r.method, url, undefined, { rawBody: JSON.stringify({ pad: 'x'.repeat(LIMIT) }) });
      assert.ok(res.status < 500, `${routeId(r)}: ${res.status} ${res.text}`);
      assert.ok(res.status !== 200 && res.status !== 201 && res.status !== 204, `${routeId(r)} took an oversized body: ${res.status}`);
      if (res.status === 413) {
        assertError(res, 413, 'body_too_large');
        refused.push(routeId(r));
      }
    }
    // The rest were refused before their body was read (a path naming nothing: 404; a permission: 403).
    assert.ok(refused.length >= writes.length / 2, `only ${refused.length} of ${writes.length} reached the size check`);
  });

  it('a route that takes no body takes at most 1 KiB; one with a body schema up to KEYNEST_BODY_LIMIT_BYTES', async () => {
    const logout = await setupLessSession();
    assertError(await logout('POST', '/api/v1/auth/logout', undefined, { rawBody: JSON.stringify({ pad: 'x'.repeat(NO_BODY_LIMIT_BYTES) }) }), 413, 'body_too_large');
    assert.equal((await logout('POST', '/api/v1/auth/logout', {})).status, 204);
    const big = 'v'.repeat(LIMIT - 100);
    assert.equal((await owner('PUT', secretsPath('app', 'development', 'BIG'), { value: big })).status, 200);
    assertError(await owner('PUT', secretsPath('app', 'development', 'BIG'), { value: `${big}${'v'.repeat(200)}` }), 413, 'body_too_large');
  });

  async function setupLessSession(): Promise<Api> {
    const res = await api(srv)('POST', '/api/v1/auth/login', { email: 'owner@example.com', password: 'Vault-Tiger-Marble-2041' });
    assert.equal(res.status, 200, res.text);
    return api(srv, res.body.accessToken);
  }

  it('JSON nested 10,000 levels deep is 400 json_too_deep, not a stack overflow or a 500; the server keeps serving', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    for (const rawBody of [deep, `{"value":${deep}}`, `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`]) {
      assertError(await owner('PUT', secretsPath('app', 'development', 'DEEP'), undefined, { rawBody }), 400, 'json_too_deep');
      assertError(await api(srv)('POST', '/api/v1/auth/login', undefined, { rawBody }), 400, 'json_too_deep');
    }
    assertError(await owner('GET', secretsPath('app', 'development', 'DEEP')), 404, 'secret_not_found');
    // At the bound, the parser takes it and the schema judges it.
    const atBound = `{"value":${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}}`;
    assertError(await owner('PUT', secretsPath('app', 'development', 'DEEP'), undefined, { rawBody: atBound }), 400, 'validation_failed');
    // Brackets inside strings are text: a value of ten thousand [ is stored as it is.
    const value = '[{'.repeat(5000);
    assert.equal((await owner('PUT', secretsPath('app', 'development', 'BRACKETS'), { value })).status, 200);
    assert.equal((await owner('GET', secretsPath('app', 'development', 'BRACKETS'))).body.value, value);
    // Prototype poisoning is still refused by the parser behind the depth check.
    assertError(await owner('PUT', secretsPath('app', 'development', 'P'), undefined, { rawBody: '{"value":"x","__proto__":{"admin":true}}' }), 400, 'bad_request');
  });
});

describe('jsonDepthExceeds', () => {
  it('counts nesting outside strings only, escapes included', () => {
    assert.equal(jsonDepthExceeds('{"a":[1,{"b":[]}]}', 4), false);
    assert.equal(jsonDepthExceeds('{"a":[1,{"b":[]}]}', 3), true);
    assert.equal(jsonDepthExceeds('"[[[[[["', 1), false);
    assert.equal(jsonDepthExceeds('["\\"[[[[", "\\\\", [[]]]', 3), false);
    assert.equal(jsonDepthExceeds('["\\\\", [[[]]]]', 3), true);
    assert.equal(jsonDepthExceeds('[][][][][]', 1), false);
    assert.equal(jsonDepthExceeds('', 1), false);
  });
});
