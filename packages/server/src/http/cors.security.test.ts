import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../config.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { assertError, request, setupOwner, type SignedInSession } from '../test-support/api.js';

const LISTED = 'https://dashboard.example.com';
const ALSO_LISTED = 'http://localhost:5173';
const preflight = (origin: string, method = 'PUT', headers = 'authorization, content-type, x-csrf-token') => ({
  origin,
  'access-control-request-method': method,
  'access-control-request-headers': headers,
});

describe('CORS: closed by default', () => {
  let srv: TestServer;
  let owner: SignedInSession;
  before(async () => {
    srv = await startServer();
    owner = await setupOwner(srv);
  });
  after(() => srv.close());

  it('no answer allows any origin; preflights are refused without allowances', async () => {
    for (const origin of [LISTED, 'https://evil.example', 'null', srv.url]) {
      const pre = await request(srv, null, 'OPTIONS', '/api/v1/projects', undefined, { headers: preflight(origin) });
      assertError(pre, 403, 'cors_origin_not_allowed');
      for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials', 'access-control-max-age']) {
        assert.equal(pre.headers.get(h), null, `${origin}: ${h}`);
      }
      const res = await request(srv, owner, 'GET', '/api/v1/projects', undefined, { headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(res.headers.get('access-control-allow-credentials'), null);
    }
  });
});

describe('CORS: an explicit allowlist (KEYNEST_CORS_ORIGINS)', () => {
  let srv: TestServer;
  let owner: SignedInSession;
  before(async () => {
    srv = await startServer({ env: { KEYNEST_CORS_ORIGINS: `${LISTED}, ${ALSO_LISTED}` } });
    owner = await setupOwner(srv);
  });
  after(() => srv.close());

  it('a listed origin gets a full preflight answer: methods, headers (Authorization, X-CSRF-Token), max-age, Vary', async () => {
    for (const origin of [LISTED, ALSO_LISTED]) {
      const pre = await request(srv, null, 'OPTIONS', '/api/v1/projects/app/environments/development/secrets/KEY', undefined, { headers: preflight(origin) });
      assert.equal(pre.status, 204, pre.text);
      assert.equal(pre.headers.get('access-control-allow-origin'), origin);
      assert.deepEqual(pre.headers.get('access-control-allow-methods')!.split(', '), ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
      const allowedHeaders = pre.headers.get('access-control-allow-headers')!.toLowerCase().split(', ');
      for (const h of ['authorization', 'content-type', 'x-csrf-token']) assert.ok(allowedHeaders.includes(h), h);
      assert.equal(pre.headers.get('access-control-max-age'), '600');
      assert.match(pre.headers.get('vary') ?? '', /\bOrigin\b/);
      assert.equal(pre.headers.get('access-control-allow-credentials'), null, 'cookies never go cross-origin');
    }
  });

  it('a listed origin may read answers (bearer token), errors included; never with credentials', async () => {
    const res = await request(srv, owner, 'GET', '/api/v1/projects', undefined, { headers: { origin: LISTED } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), LISTED);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
    assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/);
    assert.equal(res.headers.get('access-control-allow-credentials'), null);
    const denied = await request(srv, null, 'GET', '/api/v1/projects', undefined, { headers: { origin: LISTED } });
    assertError(denied, 401, 'unauthenticated');
    assert.equal(denied.headers.get('access-control-allow-origin'), LISTED, 'the page may read why it was refused');
  });

  it('an unlisted origin — near misses included — gets nothing', async () => {
    const nearMisses = ['https://evil.example', 'http://dashboard.example.com', 'https://dashboard.example.com:8443', 'https://dashboard.example.com.evil.example', 'https://sub.dashboard.example.com', 'HTTPS://DASHBOARD.EXAMPLE.COM', 'null', `${LISTED}/`];
    for (const origin of nearMisses) {
      assertError(await request(srv, null, 'OPTIONS', '/api/v1/projects', undefined, { headers: preflight(origin) }), 403, 'cors_origin_not_allowed');
      const res = await request(srv, owner, 'GET', '/api/v1/projects', undefined, { headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(res.headers.get('access-control-allow-credentials'), null, origin);
      assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/, 'the answer depends on Origin');
    }
    // No Origin at all (curl, the CLI): answered as ever, without CORS headers.
    const plain = await request(srv, owner, 'GET', '/api/v1/projects');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('access-control-allow-origin'), null);
  });

  it('an OPTIONS that is not a preflight is no route', async () => {
    assertError(await request(srv, null, 'OPTIONS', '/api/v1/projects', undefined, { headers: { origin: LISTED } }), 404, 'not_found');
  });
});

describe('KEYNEST_CORS_ORIGINS is validated at start', () => {
  const load = (v: string) => loadConfig({ KEYNEST_CORS_ORIGINS: v });
  it('takes exact origins, and refuses *, null, paths, and non-canonical spellings', () => {
    assert.deepEqual(loadConfig({}).corsOrigins, []);
    assert.deepEqual(load(`${LISTED},${ALSO_LISTED}, ${LISTED}`).corsOrigins, [LISTED, ALSO_LISTED]);
    assert.throws(() => load('*'), /KEYNEST_CORS_ORIGINS: "\*" is not allowed/);
    assert.throws(() => load(`${LISTED},*`), /KEYNEST_CORS_ORIGINS/);
    assert.throws(() => load('null'), /KEYNEST_CORS_ORIGINS/);
    assert.throws(() => load(`${LISTED}/`), /did you mean https:\/\/dashboard\.example\.com\?/);
    assert.throws(() => load(`${LISTED}/app`), /KEYNEST_CORS_ORIGINS/);
    assert.throws(() => load('https://Dashboard.example.com'), /did you mean/);
    assert.throws(() => load('https://dashboard.example.com:443'), /did you mean https:\/\/dashboard\.example\.com\?/);
    assert.throws(() => load('dashboard.example.com'), /KEYNEST_CORS_ORIGINS/);
    assert.throws(() => load('ftp://dashboard.example.com'), /KEYNEST_CORS_ORIGINS/);
    assert.throws(() => load('https://*.example.com'), /KEYNEST_CORS_ORIGINS/);
  });
});
