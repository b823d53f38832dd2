import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, setupOwner, type Api } from '../test-support/api.js';
import { createProject, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

/** Writers racing on one key: versions never repeat, compare-and-set has exactly one winner. */
describe('concurrent writes', () => {
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
  });
  after(() => srv.close());

  it('two compare-and-set writes from the same version: exactly one wins, the other is 409', async () => {
    await putSecret(owner, 'app', 'development', 'CAS', 'start');
    for (let round = 1; round <= 5; round++) {
      const [x, y] = await Promise.all(
        ['x', 'y'].map((who) => owner('PUT', secretsPath('app', 'development', 'CAS'), { value: `${who}-${round}`, ifVersion: round })),
      );
      const statuses = [x!.status, y!.status].sort();
      assert.deepEqual(statuses, [200, 409], `round ${round}: ${x!.text} / ${y!.text}`);
      const winner = x!.status === 200 ? `x-${round}` : `y-${round}`;
      assert.equal(await getValue(owner, 'app', 'development', 'CAS'), winner);
    }
  });

  it('two "must not exist" creates (ifVersion 0): exactly one wins', async () => {
    const res = await Promise.all(['p', 'q'].map((v) => owner('PUT', secretsPath('app', 'development', 'ONCE'), { value: v, ifVersion: 0 })));
    assert.deepEqual(res.map((r) => r.status).sort(), [200, 409]);
  });

  it('three blind writers all succeed with distinct versions (lost races are retried)', async () => {
    const res = await Promise.all(['one', 'two', 'three'].map((v) => owner('PUT', secretsPath('app', 'development', 'BLIND'), { value: v })));
    for (const r of res) assert.equal(r.status, 200, r.text);
    assert.deepEqual(res.map((r) => r.body.version).sort(), [1, 2, 3]);
    const history = (await owner('GET', `${secretsPath('app', 'development', 'BLIND')}/versions`)).body.versions;
    assert.deepEqual(history.map((v: { version: number }) => v.version), [3, 2, 1]);
  });
});
