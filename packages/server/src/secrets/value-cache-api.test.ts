import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

const P = 'cached';

/**
 * Reads are served from the decrypted-value cache (docs/architecture.md, "Secret value cache").
 * What a user must never notice: a stale value after a write, a read that skips the audit log, or
 * a credential that keeps working because the value was cached.
 */
for (const ttl of ['1000', '0']) {
  describe(`secret reads with KEYNEST_VALUE_CACHE_TTL_MS=${ttl}`, () => {
    let srv: TestServer;
    let owner: Api;
    const list = async (env = 'development') => {
      const res = await owner('GET', secretsPath(P, env));
      assert.equal(res.status, 200, res.text);
      return Object.fromEntries(res.body.secrets.map((s: { key: string; value: string; version: number }) => [s.key, `${s.value}@${s.version}`]));
    };
    before(async () => {
      srv = await startServer({ env: { KEYNEST_VALUE_CACHE_TTL_MS: ttl } });
      owner = api(srv, await setupOwner(srv));
      await createProject(owner, P);
    });
    after(() => srv.close());

    it('every kind of write is seen by the very next read, one key or the whole list', async () => {
      await putSecret(owner, P, 'development', 'A', 'a1');
      assert.deepEqual(await list(), { A: 'a1@1' });
      assert.equal(await getValue(owner, P, 'development', 'A'), 'a1');

      await putSecret(owner, P, 'development', 'A', 'a2');
      assert.equal(await getValue(owner, P, 'development', 'A'), 'a2');
      assert.deepEqual(await list(), { A: 'a2@2' });

      const batch = await owner('PATCH', secretsPath(P, 'development'), { secrets: [{ key: 'A', value: 'a3' }, { key: 'B', value: 'b1' }] });
      assert.equal(batch.status, 200, batch.text);
      assert.deepEqual(await list(), { A: 'a3@3', B: 'b1@1' });
      assert.equal(await getValue(owner, P, 'development', 'B'), 'b1');

      const rb = await owner('POST', `${secretsPath(P, 'development', 'A')}/rollback`, { version: 1 });
      assert.equal(rb.status, 200, rb.text);
      assert.equal(await getValue(owner, P, 'development', 'A'), 'a1');
      assert.deepEqual(await list(), { A: 'a1@4', B: 'b1@1' });

      assert.equal((await owner('DELETE', secretsPath(P, 'development', 'B'))).status, 204);
      assertError(await owner('GET', secretsPath(P, 'development', 'B')), 404, 'secret_not_found');
      assert.deepEqual(await list(), { A: 'a1@4' });

      assert.equal((await owner('POST', `${secretsPath(P, 'development', 'B')}/restore`)).status, 200);
      assert.equal(await getValue(owner, P, 'development', 'B'), 'b1');
      assert.deepEqual(await list(), { A: 'a1@4', B: 'b1@1' });
    });

    it('a key read as missing is found as soon as it is written', async () => {
      assertError(await owner('GET', secretsPath(P, 'development', 'LATE')), 404, 'secret_not_found');
      await putSecret(owner, P, 'development', 'LATE', 'here-now');
      assert.equal(await getValue(owner, P, 'development', 'LATE'), 'here-now');
    });

    it('a reference into another environment follows that environment’s writes', async () => {
      await putSecret(owner, P, 'production', 'DB_HOST', 'db-1.internal');
      await putSecret(owner, P, 'development', 'PROD_URL', 'postgres://${production.DB_HOST}/app');
      assert.equal(await getValue(owner, P, 'development', 'PROD_URL'), 'postgres://db-1.internal/app');
      await list('production');
      await putSecret(owner, P, 'production', 'DB_HOST', 'db-2.internal');
      assert.equal(await getValue(owner, P, 'development', 'PROD_URL'), 'postgres://db-2.internal/app');
      assert.equal((await list()).PROD_URL, 'postgres://db-2.internal/app@1');
    });

    it('answers the same bytes each time, as JSON, with the documented fields only', async () => {
      await putSecret(owner, P, 'staging', 'QUOTED', 'he said "hi"\n\u2028 </script> \\');
      for (const path of [secretsPath(P, 'staging', 'QUOTED'), secretsPath(P, 'staging')]) {
        const first = await owner('GET', path);
        const second = await owner('GET', path);
        assert.equal(first.status, 200);
        assert.equal(second.text, first.text);
        assert.equal(first.headers.get('content-type'), 'application/json; charset=utf-8');
      }
      const one = await owner('GET', secretsPath(P, 'staging', 'QUOTED'));
      assert.deepEqual(Object.keys(one.body).sort(), ['createdAt', 'deletedAt', 'key', 'updatedAt', 'updatedBy', 'value', 'version']);
      assert.equal(one.body.value, 'he said "hi"\n\u2028 </script> \\');
    });

    it('every read is audited, cached or not', async () => {
      await putSecret(owner, P, 'staging', 'AUDITED', 'audited-value');
      const before = await srv.db.selectFrom('audit_events').select('id').where('action', '=', 'secret.read').execute();
      for (let i = 0; i < 5; i++) {
        await getValue(owner, P, 'staging', 'AUDITED');
        assert.equal((await owner('GET', secretsPath(P, 'staging'))).status, 200);
      }
      // In id order: without ORDER BY, PostgreSQL may answer the rows in any order.
      const rows = await srv.db.selectFrom('audit_events').select(['details', 'target_type']).where('action', '=', 'secret.read').orderBy('id').execute();
      const added = rows.slice(before.length);
      assert.equal(added.length, 10);
      assert.equal(added.filter((r) => r.target_type === 'secret').length, 5);
      assert.equal(added.filter((r) => r.target_type === 'environment').length, 5);
      for (const r of added) assert.ok(!r.details.includes('audited-value'));
    });

    it('a revoked token gets 401 at once, however recently its values were read', async () => {
      await putSecret(owner, P, 'staging', 'TOKEN_READ', 'token-read-value');
      const t = await createToken(owner, { project: P, environment: 'staging', access: 'read' });
      const reader = api(srv, t.token);
      assert.equal(await getValue(reader, P, 'staging', 'TOKEN_READ'), 'token-read-value');
      assert.equal((await reader('GET', secretsPath(P, 'staging'))).status, 200);
      assert.equal((await owner('DELETE', `/api/v1/tokens/${t.info.id}`)).status, 204);
      assertError(await reader('GET', secretsPath(P, 'staging', 'TOKEN_READ')), 401, 'unauthenticated');
      assertError(await reader('GET', secretsPath(P, 'staging')), 401, 'unauthenticated');
    });
  });
}
