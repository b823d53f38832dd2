import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

describe('data-key rotation and re-encryption', () => {
  let srv: TestServer;
  let owner: Api;
  const keyVersions = async () =>
    (await srv.db.selectFrom('secret_versions').select('key_version').execute()).map((r) => r.key_version).sort((a, b) => a - b);

  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'A', 'a-before-rotation');
    await putSecret(owner, 'app', 'development', 'B', 'b-v1-before-rotation');
    await putSecret(owner, 'app', 'development', 'B', 'b-v2-before-rotation');
    await putSecret(owner, 'app', 'production', 'C', 'c-before-rotation');
    await putSecret(owner, 'app', 'development', 'D', 'd-deleted-before-rotation');
    assert.equal((await owner('DELETE', secretsPath('app', 'development', 'D'))).status, 204);
  });
  after(() => srv.close());

  it('starts every version on data key 1', async () => {
    assert.deepEqual(await keyVersions(), [1, 1, 1, 1, 1]);
  });

  it('rotate makes key 2 active at once: new writes use it, old versions still decrypt', async () => {
    const res = await owner('POST', '/api/v1/admin/rotate-keys');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { keyVersion: 2, remaining: 5 });
    await putSecret(owner, 'app', 'development', 'E', 'e-after-rotation');
    await putSecret(owner, 'app', 'development', 'A', 'a-after-rotation');
    const rows = await srv.db
      .selectFrom('secret_versions')
      .innerJoin('secrets', 'secrets.id', 'secret_versions.secret_id')
      .select(['secrets.key', 'secret_versions.version', 'secret_versions.key_version'])
      .execute();
    const kv = (key: string, version: number) => rows.find((r) => r.key === key && r.version === version)?.key_version;
    assert.equal(kv('E', 1), 2);
    assert.equal(kv('A', 2), 2);
    assert.equal(kv('A', 1), 1);
    assert.equal(await getValue(owner, 'app', 'development', 'B'), 'b-v2-before-rotation');
    assert.equal(await getValue(owner, 'app', 'production', 'C'), 'c-before-rotation');
    assert.equal(await getValue(owner, 'app', 'development', 'E'), 'e-after-rotation');
    const keys = await srv.db.selectFrom('data_keys').select(['version', 'state']).orderBy('version').execute();
    assert.deepEqual(keys, [
      { version: 1, state: 'retired' },
      { version: 2, state: 'active' },
    ]);
  });

  it('reencrypt moves old versions to the active key in batches, counting down', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await owner('POST', '/api/v1/admin/reencrypt', { batchSize: 1 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.keyVersion, 2);
      remaining.push(res.body.remaining);
      if (res.body.remaining === 0) {
        assert.equal(res.body.reencrypted, 1);
        break;
      }
      assert.equal(res.body.reencrypted, 1);
    }
    assert.deepEqual(remaining, [4, 3, 2, 1, 0]);
    assert.deepEqual(await owner('POST', '/api/v1/admin/reencrypt', { batchSize: 1 }).then((r) => r.body), { reencrypted: 0, remaining: 0, keyVersion: 2 });
    assert.ok((await keyVersions()).every((v) => v === 2));
  });

  it('everything still reads back, including deleted and old versions (restore, rollback)', async () => {
    assert.equal(await getValue(owner, 'app', 'development', 'A'), 'a-after-rotation');
    assert.equal(await getValue(owner, 'app', 'development', 'B'), 'b-v2-before-rotation');
    assert.equal(await getValue(owner, 'app', 'production', 'C'), 'c-before-rotation');
    assert.equal(await getValue(owner, 'app', 'development', 'E'), 'e-after-rotation');
    assert.equal((await owner('POST', `${secretsPath('app', 'development', 'D')}/restore`)).status, 200);
    assert.equal(await getValue(owner, 'app', 'development', 'D'), 'd-deleted-before-rotation');
    const rb = await owner('POST', `${secretsPath('app', 'development', 'B')}/rollback`, { version: 1 });
    assert.deepEqual(rb.body, { key: 'B', version: 3, status: 'changed' });
    assert.equal(await getValue(owner, 'app', 'development', 'B'), 'b-v1-before-rotation');
    const rbA = await owner('POST', `${secretsPath('app', 'development', 'A')}/rollback`, { version: 1 });
    assert.equal(rbA.status, 200);
    assert.equal(await getValue(owner, 'app', 'development', 'A'), 'a-before-rotation');
    // Unchanged detection compares against a value re-encrypted under the new key.
    assert.equal((await putSecret(owner, 'app', 'production', 'C', 'c-before-rotation')).status, 'unchanged');
  });

  it('a second rotation works the same way, with the default batch size and no body', async () => {
    const res = await owner('POST', '/api/v1/admin/rotate-keys');
    assert.equal(res.body.keyVersion, 3);
    assert.ok(res.body.remaining > 0);
    const again = await owner('POST', '/api/v1/admin/reencrypt');
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body, { reencrypted: res.body.remaining, remaining: 0, keyVersion: 3 });
    assert.ok((await keyVersions()).every((v) => v === 3));
    assert.equal(await getValue(owner, 'app', 'development', 'B'), 'b-v1-before-rotation');
  });

  it('validates the batch size and is for signed-in admins only', async () => {
    for (const body of [{ batchSize: 0 }, { batchSize: 5001 }, { batchSize: '10' }, { batchSize: 1.5 }, { size: 1 }]) {
      assertError(await owner('POST', '/api/v1/admin/reencrypt', body), 400, 'validation_failed');
    }
    const { token } = await createToken(owner, { project: 'app', environment: 'development', access: 'write' });
    assertError(await api(srv, token)('POST', '/api/v1/admin/rotate-keys'), 403, 'forbidden');
    assertError(await api(srv, token)('POST', '/api/v1/admin/reencrypt', { batchSize: 1 }), 403, 'forbidden');
  });

  it('every rotation and re-encryption batch is audited', async () => {
    const events = (await owner('GET', '/api/v1/audit?limit=500')).body.events as { action: string; details: Record<string, unknown> }[];
    assert.equal(events.filter((e) => e.action === 'keys.rotate').length, 2);
    assert.ok(events.filter((e) => e.action === 'keys.reencrypt').length >= 7);
  });
});
