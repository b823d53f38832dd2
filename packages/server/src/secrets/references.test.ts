import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

const P = 'refs';

describe('references through the API', () => {
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, P);
    const set = async (env: string, secrets: Record<string, string>) => {
      const res = await owner('PATCH', secretsPath(P, env), { secrets: Object.entries(secrets).map(([key, value]) => ({ key, value })) });
      assert.equal(res.status, 200, res.text);
    };
    await set('production', { DB_HOST: 'prod-db.internal', DB_PASS: 'prod-password-value' });
    await set('development', {
      HOST: 'localhost',
      URL: 'http://${HOST}:8080',
      PROD_DB: 'db=${production.DB_HOST}',
      ESCAPED: 'literal $${HOST} and ${HOST}',
      SHELL: '${HOME:-x} ${lower} ${A.B.C}',
      DANGLING: 'x${NOPE}',
      DANGLING_ENV: 'x${nowhere.HOST}',
      CYCLE_A: '${CYCLE_B}',
      CYCLE_B: '${CYCLE_A}',
      SELF: 'me=${SELF}',
      NESTED: '${URL}/path',
      TO_PROD_PASS: '${production.DB_PASS}',
    });
  });
  after(() => srv.close());

  it('resolves ${KEY} and ${env.KEY} on single reads and in lists', async () => {
    assert.equal(await getValue(owner, P, 'development', 'URL'), 'http://localhost:8080');
    assert.equal(await getValue(owner, P, 'development', 'NESTED'), 'http://localhost:8080/path');
    assert.equal(await getValue(owner, P, 'development', 'PROD_DB'), 'db=prod-db.internal');
  });

  it('treats $${ as a literal ${ and leaves shell-like syntax untouched', async () => {
    assert.equal(await getValue(owner, P, 'development', 'ESCAPED'), 'literal ${HOST} and localhost');
    assert.equal(await getValue(owner, P, 'development', 'SHELL'), '${HOME:-x} ${lower} ${A.B.C}');
  });

  it('raw=true returns the stored text, unresolved, for one secret and for lists', async () => {
    assert.equal(await getValue(owner, P, 'development', 'URL', '?raw=true'), 'http://${HOST}:8080');
    assert.equal(await getValue(owner, P, 'development', 'ESCAPED', '?raw=true'), 'literal $${HOST} and ${HOST}');
    // Broken references do not matter in raw mode.
    assert.equal(await getValue(owner, P, 'development', 'DANGLING', '?raw=true'), 'x${NOPE}');
    const list = await owner('GET', `${secretsPath(P, 'development')}?raw=true`);
    assert.equal(list.status, 200);
    assert.equal(list.body.secrets.find((s: { key: string }) => s.key === 'CYCLE_A').value, '${CYCLE_B}');
  });

  it('a dangling reference is 422 reference_not_found, naming the reference but no value', async () => {
    const res = await owner('GET', secretsPath(P, 'development', 'DANGLING'));
    assertError(res, 422, 'reference_not_found');
    assert.equal(res.body.error.details.reference, 'NOPE');
    const env = await owner('GET', secretsPath(P, 'development', 'DANGLING_ENV'));
    assertError(env, 422, 'reference_not_found');
    assert.equal(env.body.error.details.reference, 'nowhere.HOST');
    // A list with one broken reference fails as a whole rather than returning a partial answer.
    const list = await owner('GET', secretsPath(P, 'development'));
    assert.equal(list.status, 422);
    assert.ok(!list.text.includes('localhost') && !list.text.includes('prod-db.internal'));
  });

  it('a reference to a deleted secret is reference_not_found too, and works again after restore', async () => {
    await putSecret(owner, P, 'development', 'TEMP', 'temporary');
    await putSecret(owner, P, 'development', 'USES_TEMP', '<${TEMP}>');
    assert.equal(await getValue(owner, P, 'development', 'USES_TEMP'), '<temporary>');
    assert.equal((await owner('DELETE', secretsPath(P, 'development', 'TEMP'))).status, 204);
    assertError(await owner('GET', secretsPath(P, 'development', 'USES_TEMP')), 422, 'reference_not_found');
    assert.equal((await owner('POST', `${secretsPath(P, 'development', 'TEMP')}/restore`)).status, 200);
    assert.equal(await getValue(owner, P, 'development', 'USES_TEMP'), '<temporary>');
  });

  it('cycles and self-references are 422 reference_cycle', async () => {
    const cyc = await owner('GET', secretsPath(P, 'development', 'CYCLE_A'));
    assertError(cyc, 422, 'reference_cycle');
    assert.deepEqual(cyc.body.error.details.path, ['development.CYCLE_A', 'development.CYCLE_B', 'development.CYCLE_A']);
    assertError(await owner('GET', secretsPath(P, 'development', 'SELF')), 422, 'reference_cycle');
  });

  // An environment outside the token's scope is invisible to it, so a reference into it is answered
  // exactly like one into an environment that does not exist (nothing about production leaks).
  it('a read token scoped to development cannot reach production through a reference (422 reference_not_found, as if absent)', async () => {
    const { token } = await createToken(owner, { project: P, environment: 'development', access: 'read' });
    const dev = api(srv, token);
    assert.equal(await getValue(dev, P, 'development', 'URL'), 'http://localhost:8080');
    for (const key of ['PROD_DB', 'TO_PROD_PASS']) {
      const res = await dev('GET', secretsPath(P, 'development', key));
      assertError(res, 422, 'reference_not_found');
      assert.equal(res.body.error.details.reference, key === 'PROD_DB' ? 'production.DB_HOST' : 'production.DB_PASS');
      assert.ok(!res.text.includes('prod-db.internal') && !res.text.includes('prod-password-value'));
    }
    // raw=true is allowed: it shows only what the token's own environment holds.
    assert.equal(await getValue(dev, P, 'development', 'PROD_DB', '?raw=true'), 'db=${production.DB_HOST}');
    const list = await dev('GET', secretsPath(P, 'development'));
    // The environment also holds a deliberate cycle, so the first failure may be either 422.
    assert.equal(list.status, 422, list.text);
    assert.ok(!list.text.includes('prod-db.internal') && !list.text.includes('prod-password-value'));
    // A reference into a missing environment is "not found", not "forbidden", for the token too.
    assertError(await dev('GET', secretsPath(P, 'development', 'DANGLING_ENV')), 422, 'reference_not_found');
  });

  it('each resolved reference is recorded as a read in the audit log', async () => {
    await getValue(owner, P, 'development', 'PROD_DB');
    const audit = await owner('GET', '/api/v1/audit?limit=5');
    const read = audit.body.events.find((e: { action: string }) => e.action === 'secret.read');
    assert.deepEqual(read.details.keys, ['PROD_DB']);
    assert.deepEqual(read.details.references, ['production.DB_HOST']);
  });
});
