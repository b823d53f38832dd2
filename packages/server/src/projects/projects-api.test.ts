import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

describe('projects and environments API', () => {
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
  });
  after(() => srv.close());

  it('creates a project with development, staging, production in that order', async () => {
    const res = await owner('POST', '/api/v1/projects', { name: 'web' });
    assert.equal(res.status, 201);
    const p = res.body.project;
    assert.match(p.id, /^prj_/);
    assert.equal(p.name, 'web');
    assert.ok(!Number.isNaN(Date.parse(p.createdAt)));
    assert.deepEqual(p.environments.map((e: { name: string }) => e.name), ['development', 'staging', 'production']);
    for (const e of p.environments) assert.match(e.id, /^env_/);
    // The order holds on every read, not just in the create answer.
    const got = await owner('GET', '/api/v1/projects/web/environments');
    assert.deepEqual(got.body.environments.map((e: { name: string }) => e.name), ['development', 'staging', 'production']);
  });

  it('creates a project with the environments given, in the order given, once each', async () => {
    const p = await createProject(owner, 'custom', ['prod', 'qa-2', 'dev', 'qa-2']);
    assert.deepEqual(p.environments.map((e) => e.name), ['prod', 'qa-2', 'dev']);
    const none = await createProject(owner, 'bare', []);
    assert.deepEqual(none.environments, []);
  });

  it('refuses a duplicate project name with 409 project_exists, changing nothing', async () => {
    await createProject(owner, 'dup');
    assertError(await owner('POST', '/api/v1/projects', { name: 'dup', environments: ['other'] }), 409, 'project_exists');
    const got = await owner('GET', '/api/v1/projects/dup');
    assert.deepEqual(got.body.project.environments.map((e: { name: string }) => e.name), ['development', 'staging', 'production']);
  });

  it('refuses invalid project and environment names with 400 invalid_name', async () => {
    for (const name of ['Upper', 'has_underscore', 'has.dot', 'has space', '-leading-dash', 'prj_lookalike', 'émoji', 'a/b']) {
      assertError(await owner('POST', '/api/v1/projects', { name }), 400, 'invalid_name');
      assertError(await owner('POST', '/api/v1/projects', { name: 'fine', environments: [name] }), 400, 'invalid_name');
      assertError(await owner('POST', '/api/v1/projects/web/environments', { name }), 400, 'invalid_name');
    }
    assertError(await owner('GET', '/api/v1/projects/fine'), 404, 'project_not_found');
    // Length and type are schema errors.
    assertError(await owner('POST', '/api/v1/projects', { name: '' }), 400, 'validation_failed');
    assertError(await owner('POST', '/api/v1/projects', { name: 'a'.repeat(64) }), 400, 'validation_failed');
    assertError(await owner('POST', '/api/v1/projects', { name: 7 }), 400, 'validation_failed');
    assertError(await owner('POST', '/api/v1/projects', { name: 'x', owner: 'me' }), 400, 'validation_failed');
    // The longest valid name works.
    assert.equal((await owner('POST', '/api/v1/projects', { name: `a${'-'.repeat(61)}9` })).status, 201);
  });

  it('finds a project and an environment by name or by id', async () => {
    const p = await createProject(owner, 'lookup');
    const byName = await owner('GET', '/api/v1/projects/lookup');
    const byId = await owner('GET', `/api/v1/projects/${p.id}`);
    assert.equal(byName.status, 200);
    assert.deepEqual(byName.body, byId.body);
    const dev = p.environments[0]!;
    await putSecret(owner, 'lookup', 'development', 'X', 'by-any-name');
    assert.equal(await getValue(owner, p.id, dev.id, 'X'), 'by-any-name');
    assert.equal(await getValue(owner, 'lookup', dev.id, 'X'), 'by-any-name');
    assert.equal(await getValue(owner, p.id, 'development', 'X'), 'by-any-name');
    assertError(await owner('GET', '/api/v1/projects/prj_nonexistent0000'), 404, 'project_not_found');
    assertError(await owner('GET', '/api/v1/projects/no-such'), 404, 'project_not_found');
    // An environment id of another project does not resolve under this one.
    const other = await createProject(owner, 'lookup-other');
    assertError(await owner('GET', secretsPath('lookup', other.environments[0]!.id)), 404, 'environment_not_found');
  });

  it('lists projects by name with their environments', async () => {
    const res = await owner('GET', '/api/v1/projects');
    assert.equal(res.status, 200);
    const names = res.body.projects.map((p: { name: string }) => p.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('web') && names.includes('custom'));
    assert.deepEqual(res.body.projects.find((p: { name: string }) => p.name === 'custom').environments.map((e: { name: string }) => e.name), ['prod', 'qa-2', 'dev']);
  });

  it('creates and deletes environments; deleting one removes its secrets', async () => {
    await createProject(owner, 'envs');
    const created = await owner('POST', '/api/v1/projects/envs/environments', { name: 'preview' });
    assert.equal(created.status, 201);
    assert.equal(created.body.environment.name, 'preview');
    assert.match(created.body.environment.id, /^env_/);
    assertError(await owner('POST', '/api/v1/projects/envs/environments', { name: 'preview' }), 409, 'environment_exists');
    assertError(await owner('POST', '/api/v1/projects/nope/environments', { name: 'preview' }), 404, 'project_not_found');
    await putSecret(owner, 'envs', 'preview', 'PREVIEW_KEY', 'preview-value');
    await putSecret(owner, 'envs', 'development', 'DEV_KEY', 'dev-value');
    const secretsBefore = await srv.db.selectFrom('secrets').select('id').where('environment_id', '=', created.body.environment.id).execute();
    assert.equal(secretsBefore.length, 1);
    assert.equal((await owner('DELETE', '/api/v1/projects/envs/environments/preview')).status, 204);
    assertError(await owner('GET', secretsPath('envs', 'preview', 'PREVIEW_KEY')), 404, 'environment_not_found');
    assertError(await owner('DELETE', '/api/v1/projects/envs/environments/preview'), 404, 'environment_not_found');
    const after = await srv.db.selectFrom('secrets').select('id').where('environment_id', '=', created.body.environment.id).execute();
    assert.equal(after.length, 0);
    const versions = await srv.db.selectFrom('secret_versions').select('secret_id').where('secret_id', '=', secretsBefore[0]!.id).execute();
    assert.equal(versions.length, 0, 'versions of the deleted environment are gone');
    // A new environment of the same name starts empty.
    assert.equal((await owner('POST', '/api/v1/projects/envs/environments', { name: 'preview' })).status, 201);
    assertError(await owner('GET', secretsPath('envs', 'preview', 'PREVIEW_KEY')), 404, 'secret_not_found');
    assert.equal(await getValue(owner, 'envs', 'development', 'DEV_KEY'), 'dev-value');
  });

  it('deleting a project removes its environments, secrets and versions, and its tokens stop working', async () => {
    const p = await createProject(owner, 'doomed');
    await putSecret(owner, 'doomed', 'production', 'DOOMED_KEY', 'doomed-value');
    const keep = await createProject(owner, 'keeper');
    await putSecret(owner, 'keeper', 'production', 'KEEP_KEY', 'keep-value');
    const { token } = await createToken(owner, { project: 'doomed', environment: 'production', access: 'read' });
    const { token: keeperToken } = await createToken(owner, { project: 'keeper', environment: 'production', access: 'read' });
    assert.equal(await getValue(api(srv, token), 'doomed', 'production', 'DOOMED_KEY'), 'doomed-value');

    assert.equal((await owner('DELETE', '/api/v1/projects/doomed')).status, 204);
    assertError(await owner('GET', '/api/v1/projects/doomed'), 404, 'project_not_found');
    assertError(await owner('GET', secretsPath('doomed', 'production', 'DOOMED_KEY')), 404, 'project_not_found');
    assertError(await owner('DELETE', '/api/v1/projects/doomed'), 404, 'project_not_found');
    assertError(await api(srv, token)('GET', secretsPath('doomed', 'production', 'DOOMED_KEY')), 401, 'unauthenticated');
    assert.ok(!(await owner('GET', '/api/v1/tokens')).text.includes('doomed'));
    for (const table of ['environments', 'secrets', 'secret_versions', 'api_token_grants'] as const) {
      const col = table === 'secret_versions' ? 'org_id' : 'project_id';
      const rows =
        table === 'secret_versions'
          ? await srv.db.selectFrom('secret_versions').innerJoin('secrets', 'secrets.id', 'secret_versions.secret_id').select('secrets.project_id').where('secrets.project_id', '=', p.id).execute()
          : await srv.db.selectFrom(table).select(col).where('project_id', '=', p.id).execute();
      assert.equal(rows.length, 0, `${table} rows of the deleted project remain`);
    }
    // No orphaned versions anywhere.
    const orphans = await srv.db
      .selectFrom('secret_versions')
      .leftJoin('secrets', 'secrets.id', 'secret_versions.secret_id')
      .select('secret_versions.secret_id')
      .where('secrets.id', 'is', null)
      .execute();
    assert.deepEqual(orphans, []);
    // Another project is untouched, and so is its token.
    assert.equal(await getValue(owner, keep.name, 'production', 'KEEP_KEY'), 'keep-value');
    assert.equal(await getValue(api(srv, keeperToken), 'keeper', 'production', 'KEEP_KEY'), 'keep-value');
    // The name is free again and the new project starts empty.
    await createProject(owner, 'doomed');
    assertError(await owner('GET', secretsPath('doomed', 'production', 'DOOMED_KEY')), 404, 'secret_not_found');
    assertError(await api(srv, token)('GET', secretsPath('doomed', 'production', 'DOOMED_KEY')), 401, 'unauthenticated');
  });
});
