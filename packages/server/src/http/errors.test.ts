import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../errors.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, request, setupOwner, type Api, type SignedInSession } from '../test-support/api.js';
import { createProject, secretsPath } from '../test-support/fixtures.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

describe('HTTP error answers', () => {
  let srv: TestServer;
  let owner: Api;
  let token: SignedInSession;
  before(async () => {
    srv = await startServer({ env: { KEYNEST_BODY_LIMIT_BYTES: '2048' } });
    token = await setupOwner(srv);
    owner = api(srv, token);
    await createProject(owner, 'app');
  });
  after(() => srv.close());

  it('bad JSON is 400 bad_request; an empty JSON body too', async () => {
    for (const rawBody of ['{"value": ', '{value: "x"}', "{'value': 'x'}", '{"value": "x"}}', 'undefined']) {
      assertError(await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody }), 400, 'bad_request');
    }
    assertError(await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody: '' }), 400, 'bad_request');
    assertError(await owner('POST', '/api/v1/projects', undefined, { rawBody: '' }), 400, 'bad_request');
  });

  it('a body that is not JSON is 415 unsupported_media_type', async () => {
    for (const contentType of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream']) {
      assertError(await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody: 'value=x', contentType }), 415, 'unsupported_media_type');
    }
    assertError(await owner('GET', secretsPath('app', 'development', 'K')), 404, 'secret_not_found');
  });

  it('text/plain is not JSON either: 415, also on routes without a body schema', async () => {
    // text/plain is what a browser may send cross-site without a preflight; the API takes only JSON.
    const login = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    const throwaway = api(srv, login.body.accessToken);
    assertError(await throwaway('POST', '/api/v1/auth/logout', undefined, { rawBody: 'x', contentType: 'text/plain' }), 415, 'unsupported_media_type');
    assertError(await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody: '{"value":"x"}', contentType: 'text/plain' }), 415, 'unsupported_media_type');
  });

  it('a body over KEYNEST_BODY_LIMIT_BYTES is 413 body_too_large (before it is parsed)', async () => {
    const big = JSON.stringify({ value: 'x'.repeat(3000) });
    assertError(await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody: big }), 413, 'body_too_large');
    assertError(await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody: `${big.slice(0, 2500)}` }), 413, 'body_too_large');
    assert.equal((await owner('PUT', secretsPath('app', 'development', 'K'), { value: 'x'.repeat(1900) })).status, 200);
  });

  it('an unknown route is 404 not_found, authenticated or not', async () => {
    for (const [method, p] of [
      ['GET', '/'],
      ['GET', '/api/v1'],
      ['GET', '/api/v2/projects'],
      ['POST', '/api/v1/healthz'],
      ['GET', '/api/v1/projects/app/nothing'],
      ['PATCH', '/api/v1/projects'],
    ] as const) {
      assertError(await api(srv)(method, p), 404, 'not_found');
      assertError(await owner(method, p), 404, 'not_found');
    }
  });

  it('every error carries the request id and no-store headers; no stack or internal detail', async () => {
    const res = await request(srv, null, 'GET', '/api/v1/me');
    assertError(res, 401, 'unauthenticated');
    assert.match(res.body.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const bad = await owner('PUT', secretsPath('app', 'development', 'K'), undefined, { rawBody: '{"value": ' });
    assert.ok(!/at \w+ \(|node_modules|FST_ERR|SyntaxError/.test(bad.text), bad.text);
    const validation = await owner('PUT', secretsPath('app', 'development', 'K'), { value: 'x', extra: 'y' });
    assertError(validation, 400, 'validation_failed');
    assert.deepEqual(validation.body.error.details, [{ path: 'body', rule: 'additionalProperties', message: 'must NOT have additional properties' }]);
  });

  it('every status used by ERROR_CODES is an error status, and codes are snake_case', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^[a-z]+(_[a-z]+)*$/);
      assert.ok(status >= 400 && status <= 599, `${code}: ${status}`);
    }
  });

  it('docs/errors.md lists exactly the codes of ERROR_CODES, with their statuses', () => {
    const file = path.join(repoRoot, 'docs', 'errors.md');
    assert.ok(existsSync(file), `${file} is missing`);
    const documented = new Map<string, number>();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})?/.exec(line);
      if (m) documented.set(m[1]!, Number(m[2]));
    }
    assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      if (!Number.isNaN(documented.get(code))) assert.equal(documented.get(code), status, `status of ${code} in docs/errors.md`);
    }
  });
});
