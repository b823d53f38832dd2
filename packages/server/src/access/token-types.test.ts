import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const DAY_S = 24 * 3600;

/**
 * The token types over HTTP: what each may and may not do, multi-grant scopes (whole projects and
 * single environments) with 404 outside them, and the refusals at creation (beyond the creator,
 * permissions no token may hold, missing or too long expiry).
 */
describe('API token types and scopes', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  const create = async (body: Record<string, unknown>) => {
    const res = await owner('POST', '/api/v1/tokens', { name: 'typed', expiresInSeconds: 30 * DAY_S, ...body });
    assert.equal(res.status, 201, res.text);
    return res.body as { token: string; info: Record<string, unknown> & { id: string } };
  };
  const tokenApi = async (body: Record<string, unknown>) => api(srv, (await create(body)).token);

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_STEP_UP_S: String(DAY_S), KEYNEST_TOKEN_MAX_TTL_S: String(90 * DAY_S) } });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await createProject(owner, 'web');
    await createProject(owner, 'other');
    await putSecret(owner, 'app', 'development', 'DEV_KEY', 'dev-value');
    await putSecret(owner, 'app', 'production', 'PROD_KEY', 'prod-value');
    await putSecret(owner, 'web', 'staging', 'WEB_KEY', 'web-value');
    await putSecret(owner, 'other', 'development', 'OTHER_KEY', 'other-value');
  });
  after(() => srv.close());

  it('deploy: reads the values of its environments and nothing else (no listing, no keys alone, no writes)', async () => {
    const t = await tokenApi({ type: 'deploy', scope: [{ project: 'app', environment: 'production' }] });
    assert.equal(await getValue(t, 'app', 'production', 'PROD_KEY'), 'prod-value');
    const all = await t('GET', secretsPath('app', 'production'));
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.secrets.map((s: { key: string }) => s.key), ['PROD_KEY']);
    for (const [method, path] of [
      ['GET', '/api/v1/projects'],
      ['GET', '/api/v1/projects/app'],
      ['GET', '/api/v1/projects/app/environments'],
      ['GET', `${secretsPath('app', 'production')}?values=false`],
      ['GET', `${secretsPath('app', 'production', 'PROD_KEY')}/versions`],
    ] as const) {
      assertError(await t(method, path), 403, 'forbidden');
    }
    assertError(await t('PUT', secretsPath('app', 'production', 'PROD_KEY'), { value: 'x' }), 403, 'forbidden');
    assertError(await t('GET', secretsPath('app', 'development', 'DEV_KEY')), 404, 'environment_not_found');
    assertError(await t('GET', secretsPath('other', 'development', 'OTHER_KEY')), 404, 'project_not_found');
  });

  it('read-only: reads keys and values, cannot write or delete', async () => {
    const t = await tokenApi({ type: 'read-only', scope: [{ project: 'app', environment: 'development' }] });
    assert.equal(await getValue(t, 'app', 'development', 'DEV_KEY'), 'dev-value');
    assert.equal((await t('GET', `${secretsPath('app', 'development')}?values=false`)).status, 200);
    assert.equal((await t('GET', '/api/v1/projects')).status, 200);
    assertError(await t('PUT', secretsPath('app', 'development', 'DEV_KEY'), { value: 'x' }), 403, 'forbidden');
    assertError(await t('DELETE', secretsPath('app', 'development', 'DEV_KEY')), 403, 'forbidden');
  });

  it('admin: reads, writes and deletes secrets in its projects, and runs nothing of the org', async () => {
    const t = await tokenApi({ type: 'admin', scope: [{ project: 'app' }] });
    assert.equal((await t('PUT', secretsPath('app', 'staging', 'ADMIN_KEY'), { value: 'by-admin-token' })).status, 200);
    assert.equal((await t('DELETE', secretsPath('app', 'staging', 'ADMIN_KEY'))).status, 204);
    for (const [method, path, body] of [
      ['POST', '/api/v1/projects', { name: 'by-token' }],
      ['DELETE', '/api/v1/projects/app'],
      ['POST', '/api/v1/projects/app/environments', { name: 'qa' }],
      ['GET', '/api/v1/tokens'],
      ['POST', '/api/v1/tokens', { name: 'x', type: 'read-only', scope: [{ project: 'app' }], expiresInSeconds: 3600 }],
      ['GET', '/api/v1/org/members'],
      ['GET', '/api/v1/audit'],
    ] as const) {
      assertError(await t(method, path, body), 403, 'forbidden');
    }
  });

  it('custom: exactly its permissions', async () => {
    const t = await tokenApi({ type: 'custom', permissions: ['secret:read_keys', 'secret:write'], scope: [{ project: 'app', environment: 'development' }] });
    assert.equal((await t('GET', `${secretsPath('app', 'development')}?values=false`)).status, 200);
    assert.equal((await t('PUT', secretsPath('app', 'development', 'CUSTOM_KEY'), { value: 'custom' })).status, 200);
    assertError(await t('GET', secretsPath('app', 'development', 'DEV_KEY')), 403, 'forbidden');
    assertError(await t('DELETE', secretsPath('app', 'development', 'CUSTOM_KEY')), 403, 'forbidden');
    assertError(await t('GET', '/api/v1/projects'), 403, 'forbidden');
    const me = (await t('GET', '/api/v1/me')).body.principal;
    assert.deepEqual(me.scope.permissions, ['secret:read_keys', 'secret:write']);
    assert.equal(me.scope.type, 'custom');
  });

  it('several grants: a whole project (all its environments) plus one environment elsewhere; the rest is 404', async () => {
    const created = await create({ type: 'read-only', scope: [{ project: 'app' }, { project: 'web', environment: 'staging' }] });
    assert.deepEqual(
      (created.info.scope as { project: { name: string }; environment: { name: string } | null }[]).map((g) => [g.project.name, g.environment?.name ?? null]),
      [['app', null], ['web', 'staging']],
    );
    const t = api(srv, created.token);
    assert.equal(await getValue(t, 'app', 'development', 'DEV_KEY'), 'dev-value');
    assert.equal(await getValue(t, 'app', 'production', 'PROD_KEY'), 'prod-value');
    assert.equal(await getValue(t, 'web', 'staging', 'WEB_KEY'), 'web-value');
    assertError(await t('GET', secretsPath('web', 'development')), 404, 'environment_not_found');
    assertError(await t('GET', secretsPath('other', 'development', 'OTHER_KEY')), 404, 'project_not_found');
    const listed = (await t('GET', '/api/v1/projects')).body.projects.map((p: { name: string; environments: { name: string }[] }) => [p.name, p.environments.map((e) => e.name).sort()]);
    assert.deepEqual(listed.sort(), [['app', ['development', 'production', 'staging']], ['web', ['staging']]]);
    // A whole-project grant covers environments made after the token.
    assert.equal((await owner('POST', '/api/v1/projects/app/environments', { name: 'qa' })).status, 201);
    await putSecret(owner, 'app', 'qa', 'QA_KEY', 'qa-value');
    assert.equal(await getValue(t, 'app', 'qa', 'QA_KEY'), 'qa-value');
  });

  it('refuses at creation: more than the creator, ungrantable permissions, no or too long expiry, bad input', async () => {
    const base = { name: 'x', scope: [{ project: 'app' }] };
    const bad: [unknown, number, string][] = [
      [{ ...base, type: 'read-only' }, 400, 'token_expiry_required'],
      [{ ...base, type: 'read-only', expiresInSeconds: null }, 400, 'token_expiry_required'],
      [{ ...base, type: 'read-only', expiresInSeconds: 90 * DAY_S + 1 }, 400, 'token_ttl_too_long'],
      [{ name: 'x', project: 'app', environment: 'development', access: 'read', expiresInSeconds: null }, 400, 'token_expiry_required'],
      [{ ...base, type: 'custom', permissions: ['member:manage'], expiresInSeconds: 3600 }, 400, 'permission_not_grantable'],
      [{ ...base, type: 'custom', permissions: [], expiresInSeconds: 3600 }, 400, 'permission_not_grantable'],
      [{ ...base, type: 'deploy', permissions: ['secret:write'], expiresInSeconds: 3600 }, 400, 'permission_not_grantable'],
      [{ ...base, type: 'custom', permissions: ['secret:fly'], expiresInSeconds: 3600 }, 400, 'validation_failed'],
      [{ ...base, type: 'root', expiresInSeconds: 3600 }, 400, 'validation_failed'],
      [{ ...base, type: 'read-only', access: 'read', expiresInSeconds: 3600 }, 400, 'bad_request'],
      [{ name: 'x', type: 'read-only', expiresInSeconds: 3600 }, 400, 'bad_request'],
      [{ ...base, project: 'app', type: 'read-only', expiresInSeconds: 3600 }, 400, 'bad_request'],
      [{ ...base, type: 'read-only', expiresInSeconds: 3600, allowedIps: ['10.0.0.1/8'] }, 400, 'invalid_ip_range'],
      [{ ...base, type: 'read-only', expiresInSeconds: 3600, allowedIps: ['nope'] }, 400, 'invalid_ip_range'],
      [{ name: 'x', scope: [{ project: 'nope' }], type: 'read-only', expiresInSeconds: 3600 }, 404, 'project_not_found'],
      [{ name: 'x', scope: [{ project: 'app', environment: 'nope' }], type: 'read-only', expiresInSeconds: 3600 }, 404, 'environment_not_found'],
    ];
    for (const [body, status, code] of bad) assertError(await owner('POST', '/api/v1/tokens', body), status, code);
  });

  it('the original shorthand without expiry gets the configured maximum', async () => {
    const res = await owner('POST', '/api/v1/tokens', { name: 'legacy', project: 'app', environment: 'development', access: 'write' });
    assert.equal(res.status, 201);
    assert.equal(res.body.info.expiresAt, new Date(clock() + 90 * DAY_S * 1000).toISOString());
    assert.equal(res.body.info.type, 'custom');
    assert.equal(res.body.info.access, 'write');
  });
});
