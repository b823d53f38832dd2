import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, request, setupOwner, type Api } from '../test-support/api.js';
import { createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

/**
 * Inputs a database cannot store or a column cannot hold must be refused as a 4xx before they
 * reach it — PostgreSQL rejects NUL in text and numbers beyond its integer types with errors that
 * would otherwise surface as 500s.
 */
describe('hostile input is a 4xx, never a 500', () => {
  let srv: TestServer;
  let call: Api;
  before(async () => {
    srv = await startServer();
    call = api(srv, await setupOwner(srv));
    await createProject(call, 'app');
    await putSecret(call, 'app', 'development', 'K', 'v1');
  });
  after(() => srv.close());

  it('NUL and other control characters in names, references, emails', async () => {
    assertError(await call('GET', `/api/v1/projects/a%00b/environments/x/secrets`), 400, 'validation_failed');
    assertError(await call('GET', `/api/v1/projects/app/environments/dev%01/secrets`), 400, 'validation_failed');
    assertError(await call('DELETE', `/api/v1/tokens/tok_%00`), 400, 'validation_failed');
    assertError(await call('POST', '/api/v1/tokens', { name: 'ci\u0000', project: 'app', environment: 'development', access: 'read' }), 400, 'validation_failed');
    assertError(await call('POST', '/api/v1/tokens', { name: 'ci', project: 'app\u0000', environment: 'development', access: 'read' }), 400, 'validation_failed');
    assertError(await request(srv, null, 'POST', '/api/v1/auth/login', { email: 'owner\u0000@example.com', password: 'whatever-password' }), 400, 'validation_failed');
    assertError(await call('GET', `${secretsPath('app', 'development')}/K%00`), 400, 'invalid_secret_key');
  });

  it('a lone UTF-16 surrogate in a name is refused; a character outside the BMP (a surrogate pair) is not', async () => {
    assertError(await call('POST', '/api/v1/tokens', { name: 'ci\ud800', project: 'app', environment: 'development', access: 'read' }), 400, 'validation_failed');
    assertError(await call('POST', '/api/v1/tokens', { name: '\udc00ci', project: 'app', environment: 'development', access: 'read' }), 400, 'validation_failed');
    const created = await call('POST', '/api/v1/tokens', { name: 'ci \u{1F511}', project: 'app', environment: 'development', access: 'read' });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.info.name, 'ci \u{1F511}');
  });

  it('numbers beyond the columns that hold them', async () => {
    assertError(await call('POST', `${secretsPath('app', 'development', 'K')}/rollback`, { version: 3_000_000_000 }), 400, 'validation_failed');
    assertError(await call('POST', `${secretsPath('app', 'development', 'K')}/rollback`, { version: 1e21 }), 400, 'validation_failed');
    assertError(await call('PUT', secretsPath('app', 'development', 'K'), { value: 'v2', ifVersion: 1e21 }), 400, 'validation_failed');
    assertError(await call('GET', '/api/v1/audit?before=1e21'), 400, 'validation_failed');
    assertError(await call('GET', '/api/v1/audit?limit=100000'), 400, 'validation_failed');
  });

  it('a value with NUL and control characters is stored and read back exactly (values are encrypted, not text)', async () => {
    const value = 'a\u0000b\u0001c\u007fd\r\n';
    assert.equal((await call('PUT', secretsPath('app', 'development', 'CTRL'), { value })).status, 200);
    const got = await call('GET', secretsPath('app', 'development', 'CTRL'));
    assert.equal(got.status, 200);
    assert.equal(got.body.value, value);
  });
});
