import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('API tokens', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    // The clock jumps by hours here; the owner's session must neither idle out nor need step-up.
    srv = await startServer({ clock, env: { KEYNEST_SESSION_IDLE_S: String(30 * 24 * 3600), KEYNEST_STEP_UP_S: String(24 * 3600) } });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await createProject(owner, 'other');
    await putSecret(owner, 'app', 'development', 'DEV_KEY', 'dev-value-1');
    await putSecret(owner, 'app', 'production', 'PROD_KEY', 'prod-value-1');
    await putSecret(owner, 'other', 'development', 'OTHER_KEY', 'other-value-1');
  });
  after(() => srv.close());

  it('is shown once at creation with the kn_api_ prefix; the list and the database never hold it', async () => {
    const res = await owner('POST', '/api/v1/tokens', { name: 'ci', project: 'app', environment: 'development', access: 'read' });
    assert.equal(res.status, 201);
    const { token, info } = res.body;
    assert.match(token, /^kn_api_[A-Za-z0-9_-]{43}$/);
    assert.match(info.id, /^tok_/);
    assert.equal(info.name, 'ci');
    assert.equal(info.access, 'read');
    assert.equal(info.project.name, 'app');
    assert.equal(info.environment.name, 'development');
    // Every token expires: the original shorthand, said without an expiry, gets the maximum (a year).
    assert.equal(info.expiresAt, new Date(clock() + 365 * 24 * 3600 * 1000).toISOString());
    assert.equal(info.lastUsedAt, null);
    assert.equal(info.revokedAt, null);
    assert.ok(token.startsWith(info.prefix) && info.prefix.length < 16, 'only a short prefix is kept for display');
    const list = await owner('GET', '/api/v1/tokens');
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(token));
    assert.ok(!list.text.includes(token.slice(info.prefix.length)));
    assert.deepEqual(list.body.tokens.find((t: { id: string }) => t.id === info.id), info);
    const rows = await srv.db.selectFrom('api_tokens').selectAll().execute();
    const row = rows.find((r) => r.id === info.id)!;
    assert.equal(row.token_digest, sha256(token));
    for (const r of rows) assert.ok(!JSON.stringify(r).includes(token.slice(info.prefix.length)), 'token body stored');
  });

  it('a read token reads its environment (list and one) but cannot write or delete (403 forbidden)', async () => {
    const { token } = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    const t = api(srv, token);
    assert.equal(await getValue(t, 'app', 'development', 'DEV_KEY'), 'dev-value-1');
    const list = await t('GET', secretsPath('app', 'development'));
    assert.deepEqual(list.body.secrets.map((s: { key: string }) => s.key), ['DEV_KEY']);
    assert.equal((await t('GET', `${secretsPath('app', 'development', 'DEV_KEY')}/versions`)).status, 200);
    assertError(await t('PUT', secretsPath('app', 'development', 'DEV_KEY'), { value: 'hijacked' }), 403, 'forbidden');
    assertError(await t('PATCH', secretsPath('app', 'development'), { secrets: [{ key: 'NEW', value: 'x' }] }), 403, 'forbidden');
    assertError(await t('DELETE', secretsPath('app', 'development', 'DEV_KEY')), 403, 'forbidden');
    assertError(await t('POST', `${secretsPath('app', 'development', 'DEV_KEY')}/rollback`, { version: 1 }), 403, 'forbidden');
    assertError(await t('POST', `${secretsPath('app', 'development', 'DEV_KEY')}/restore`), 403, 'forbidden');
    assert.equal(await getValue(owner, 'app', 'development', 'DEV_KEY'), 'dev-value-1');
  });

  it('a write token writes and deletes in its environment but manages nothing (403 forbidden)', async () => {
    const { token } = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    const t = api(srv, token);
    const put = await t('PUT', secretsPath('app', 'development', 'FROM_TOKEN'), { value: 'written-by-token' });
    assert.deepEqual(put.body, { key: 'FROM_TOKEN', version: 1, status: 'added' });
    const got = await owner('GET', secretsPath('app', 'development', 'FROM_TOKEN'));
    assert.equal(got.body.value, 'written-by-token');
    assert.equal(got.body.updatedBy.type, 'token');
    assert.equal(
      (await t('PATCH', secretsPath('app', 'development'), { secrets: [{ key: 'FROM_TOKEN', value: 'again' }] })).status,
      200,
    );
    assert.equal((await t('DELETE', secretsPath('app', 'development', 'FROM_TOKEN'))).status, 204);
    assert.equal((await t('POST', `${secretsPath('app', 'development', 'FROM_TOKEN')}/restore`)).status, 200);
    const forbidden: [string, string, unknown?][] = [
      ['POST', '/api/v1/projects', { name: 'by-token' }],
      ['DELETE', '/api/v1/projects/app'],
      ['POST', '/api/v1/projects/app/environments', { name: 'by-token' }],
      ['DELETE', '/api/v1/projects/app/environments/development'],
      ['GET', '/api/v1/tokens'],
      ['POST', '/api/v1/tokens', { name: 'escalate', project: 'app', environment: 'production', access: 'write' }],
      ['DELETE', '/api/v1/tokens/tok_x'],
      ['GET', '/api/v1/audit'],
      ['POST', '/api/v1/admin/rotate-keys'],
      ['POST', '/api/v1/admin/reencrypt', {}],
      ['POST', '/api/v1/auth/logout'],
    ];
    for (const [method, path, body] of forbidden) assertError(await t(method, path, body), 403, 'forbidden');
    assertError(await owner('GET', '/api/v1/projects/by-token'), 404, 'project_not_found');
    assert.equal((await owner('GET', '/api/v1/projects/app')).body.project.environments.length, 3);
  });

  it('a token sees only its own environment of its own project: everything else is 404', async () => {
    const { token } = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    const t = api(srv, token);
    assertError(await t('GET', secretsPath('app', 'production', 'PROD_KEY')), 404, 'environment_not_found');
    assertError(await t('GET', secretsPath('app', 'production')), 404, 'environment_not_found');
    assertError(await t('PUT', secretsPath('app', 'production', 'PROD_KEY'), { value: 'x' }), 404, 'environment_not_found');
    assertError(await t('GET', secretsPath('app', 'staging', 'NOPE')), 404, 'environment_not_found');
    assertError(await t('GET', secretsPath('other', 'development', 'OTHER_KEY')), 404, 'project_not_found');
    assertError(await t('PUT', secretsPath('other', 'development', 'OTHER_KEY'), { value: 'x' }), 404, 'project_not_found');
    assertError(await t('GET', '/api/v1/projects/other'), 404, 'project_not_found');
    assertError(await t('GET', '/api/v1/projects/other/environments'), 404, 'project_not_found');
    // By id too: knowing an id gives nothing.
    const other = (await owner('GET', '/api/v1/projects/other')).body.project;
    const prodId = (await owner('GET', '/api/v1/projects/app')).body.project.environments.find((e: { name: string }) => e.name === 'production').id;
    assertError(await t('GET', secretsPath(other.id, other.environments[0].id, 'OTHER_KEY')), 404, 'project_not_found');
    assertError(await t('GET', secretsPath('app', prodId, 'PROD_KEY')), 404, 'environment_not_found');
    // Listing shows its project with only its environment.
    const list = await t('GET', '/api/v1/projects');
    assert.deepEqual(
      list.body.projects.map((p: { name: string; environments: { name: string }[] }) => [p.name, p.environments.map((e) => e.name)]),
      [['app', ['development']]],
    );
    const envs = await t('GET', '/api/v1/projects/app/environments');
    assert.deepEqual(envs.body.environments.map((e: { name: string }) => e.name), ['development']);
    assert.deepEqual((await t('GET', '/api/v1/projects/app')).body.project.environments.map((e: { name: string }) => e.name), ['development']);
    const me = await t('GET', '/api/v1/me');
    assert.equal(me.body.principal.type, 'token');
    assert.equal(me.body.principal.scope.access, 'write');
  });

  it('cannot be created for an unknown project or environment, or with bad input', async () => {
    const bad: [unknown, number, string][] = [
      [{ name: 'x', project: 'nope', environment: 'development', access: 'read' }, 404, 'project_not_found'],
      [{ name: 'x', project: 'app', environment: 'nope', access: 'read' }, 404, 'environment_not_found'],
      [{ name: 'x', project: 'app', environment: 'development', access: 'admin' }, 400, 'validation_failed'],
      [{ name: 'x', project: 'app', environment: 'development', access: 'read', expiresInSeconds: 59 }, 400, 'validation_failed'],
      [{ name: 'x', project: 'app', environment: 'development', access: 'read', expiresInSeconds: '3600' }, 400, 'validation_failed'],
      [{ name: 'x', project: 'app', environment: 'development', access: 'read', scope: 'all' }, 400, 'validation_failed'],
      [{ name: '   ', project: 'app', environment: 'development', access: 'read' }, 400, 'invalid_name'],
      [{ project: 'app', environment: 'development', access: 'read' }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of bad) assertError(await owner('POST', '/api/v1/tokens', body), status, code);
  });

  it('expires at expiresAt (injected clock): 401 unauthenticated from then on', async () => {
    const { token, info } = await createToken(owner, { project: 'app', environment: 'development', access: 'read', expiresInSeconds: 3600 });
    assert.equal(info.expiresAt, new Date(clock() + 3_600_000).toISOString());
    const t = api(srv, token);
    clock.advance(3_599_999);
    assert.equal(await getValue(t, 'app', 'development', 'DEV_KEY'), 'dev-value-1');
    clock.advance(1);
    assertError(await t('GET', secretsPath('app', 'development', 'DEV_KEY')), 401, 'unauthenticated');
    assertError(await t('GET', '/api/v1/me'), 401, 'unauthenticated');
  });

  it('revoked: 401 at once, shown as revoked in the list; revoking twice is harmless; unknown ids are 404', async () => {
    const { token, info } = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    const t = api(srv, token);
    assert.equal(await getValue(t, 'app', 'development', 'DEV_KEY'), 'dev-value-1');
    assert.equal((await owner('DELETE', `/api/v1/tokens/${info.id}`)).status, 204);
    assertError(await t('GET', secretsPath('app', 'development', 'DEV_KEY')), 401, 'unauthenticated');
    assertError(await t('PUT', secretsPath('app', 'development', 'DEV_KEY'), { value: 'after-revoke' }), 401, 'unauthenticated');
    const listed = (await owner('GET', '/api/v1/tokens')).body.tokens.find((x: { id: string }) => x.id === info.id);
    assert.equal(listed.revokedAt, new Date(clock()).toISOString());
    assert.equal((await owner('DELETE', `/api/v1/tokens/${info.id}`)).status, 204);
    assertError(await owner('DELETE', '/api/v1/tokens/tok_doesnotexist'), 404, 'token_not_found');
    assert.equal(await getValue(owner, 'app', 'development', 'DEV_KEY'), 'dev-value-1');
  });

  it('records last_used_at (and the address) when a token is used', async () => {
    const { token, info } = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    const usedAt = clock();
    await getValue(api(srv, token), 'app', 'development', 'DEV_KEY');
    const listed = (await owner('GET', '/api/v1/tokens')).body.tokens.find((x: { id: string }) => x.id === info.id);
    assert.equal(listed.lastUsedAt, new Date(usedAt).toISOString());
    const row = await srv.db.selectFrom('api_tokens').select(['last_used_at', 'last_used_ip']).where('id', '=', info.id).executeTakeFirstOrThrow();
    assert.equal(row.last_used_at, usedAt);
    assert.equal(row.last_used_ip, '127.0.0.1');
    // Refreshed later (at most once a minute, so reads do not all become writes).
    clock.advance(120_000);
    await getValue(api(srv, token), 'app', 'development', 'DEV_KEY');
    const later = await srv.db.selectFrom('api_tokens').select('last_used_at').where('id', '=', info.id).executeTakeFirstOrThrow();
    assert.equal(later.last_used_at, usedAt + 120_000);
  });
});
