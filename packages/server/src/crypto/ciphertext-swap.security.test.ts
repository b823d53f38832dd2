import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { encryptWith, decryptValue } from '../secrets/cipher.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api, type ApiAnswer } from '../test-support/api.js';
import { createProject, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';
import { DecryptionError } from './aead.js';

/**
 * An attacker (or a bug) with write access to the database moves ciphertext between rows. Each
 * version's ciphertext is bound by associated data to org/project/environment/key/version, so a
 * moved ciphertext must fail to decrypt — answered as a generic 500 that shows no value — instead
 * of yielding another secret's plaintext.
 */
describe('ciphertext moved between rows fails closed', () => {
  let srv: TestServer;
  let owner: Api;
  const V = {
    a: `swap-a-${randomBytes(8).toString('hex')}`,
    b: `swap-b-${randomBytes(8).toString('hex')}`,
    c1: `swap-c1-${randomBytes(8).toString('hex')}`,
    c2: `swap-c2-${randomBytes(8).toString('hex')}`,
    prod: `swap-prod-${randomBytes(8).toString('hex')}`,
    other: `swap-other-${randomBytes(8).toString('hex')}`,
  };

  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await createProject(owner, 'other');
    await putSecret(owner, 'app', 'development', 'KEY_A', V.a);
    await putSecret(owner, 'app', 'development', 'KEY_B', V.b);
    await putSecret(owner, 'app', 'development', 'KEY_C', V.c1);
    await putSecret(owner, 'app', 'development', 'KEY_C', V.c2);
    await putSecret(owner, 'app', 'production', 'KEY_A', V.prod);
    await putSecret(owner, 'other', 'development', 'KEY_A', V.other);
  });
  after(() => srv.close());

  async function versionRow(project: string, env: string, key: string, version: number) {
    return srv.db
      .selectFrom('secret_versions')
      .innerJoin('secrets', 'secrets.id', 'secret_versions.secret_id')
      .innerJoin('projects', 'projects.id', 'secrets.project_id')
      .innerJoin('environments', 'environments.id', 'secrets.environment_id')
      .select(['secret_versions.secret_id', 'secret_versions.version', 'secret_versions.ciphertext', 'secret_versions.nonce', 'secret_versions.key_version'])
      .where('projects.name', '=', project)
      .where('environments.name', '=', env)
      .where('secrets.key', '=', key)
      .where('secret_versions.version', '=', version)
      .executeTakeFirstOrThrow();
  }

  async function writeCipher(target: { secret_id: string; version: number }, c: { ciphertext: Buffer; nonce: Buffer; key_version?: number }) {
    await srv.db
      .updateTable('secret_versions')
      .set({ ciphertext: Buffer.from(c.ciphertext), nonce: Buffer.from(c.nonce), ...(c.key_version !== undefined ? { key_version: c.key_version } : {}) })
      .where('secret_id', '=', target.secret_id)
      .where('version', '=', target.version)
      .execute();
  }

  /** Applies `tamper`, checks the read fails closed, then puts the original bytes back. */
  async function withTampered(target: { secret_id: string; version: number; ciphertext: Buffer; nonce: Buffer; key_version: number }, tamper: () => Promise<void>, check: () => Promise<void>) {
    await tamper();
    try {
      await check();
    } finally {
      await writeCipher(target, target);
    }
  }

  function assertFailedClosed(res: ApiAnswer): void {
    assertError(res, 500, 'internal_error');
    assert.match(res.body.error.message, /^Internal error/);
    for (const v of Object.values(V)) assert.ok(!res.text.includes(v), 'a value in the error answer');
  }

  it('copied onto another key of the same environment', async () => {
    const a = await versionRow('app', 'development', 'KEY_A', 1);
    const b = await versionRow('app', 'development', 'KEY_B', 1);
    await withTampered(
      b,
      () => writeCipher(b, a),
      async () => {
        assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_B')));
        assertFailedClosed(await owner('GET', secretsPath('app', 'development')));
        // The writer compares against the current value: a moved ciphertext must not make it "unchanged".
        const put = await owner('PUT', secretsPath('app', 'development', 'KEY_B'), { value: V.a });
        assert.notEqual(put.body?.status, 'unchanged', 'the moved ciphertext was taken for the value');
        for (const v of Object.values(V)) assert.ok(!put.text.includes(v));
        assert.equal(await getValue(owner, 'app', 'development', 'KEY_A'), V.a);
      },
    );
    assert.equal(await getValue(owner, 'app', 'development', 'KEY_B'), V.b);
  });

  it('the whole row renamed to another key name', async () => {
    const a = await versionRow('app', 'development', 'KEY_A', 1);
    await srv.db.updateTable('secrets').set({ key: 'KEY_RENAMED' }).where('id', '=', a.secret_id).execute();
    try {
      assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_RENAMED')));
    } finally {
      await srv.db.updateTable('secrets').set({ key: 'KEY_A' }).where('id', '=', a.secret_id).execute();
    }
    assert.equal(await getValue(owner, 'app', 'development', 'KEY_A'), V.a);
  });

  it('copied onto another version of the same secret', async () => {
    const c1 = await versionRow('app', 'development', 'KEY_C', 1);
    const c2 = await versionRow('app', 'development', 'KEY_C', 2);
    await withTampered(
      c2,
      () => writeCipher(c2, c1),
      async () => assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_C'))),
    );
    // And the other way: an old version overwritten with the newer one fails when rolled back to.
    await withTampered(
      c1,
      () => writeCipher(c1, c2),
      async () => {
        assertFailedClosed(await owner('POST', `${secretsPath('app', 'development', 'KEY_C')}/rollback`, { version: 1 }));
        assert.equal(await getValue(owner, 'app', 'development', 'KEY_C'), V.c2);
      },
    );
    assert.equal(await getValue(owner, 'app', 'development', 'KEY_C'), V.c2);
  });

  it('copied onto the same key in another environment, and in another project', async () => {
    const dev = await versionRow('app', 'development', 'KEY_A', 1);
    const prod = await versionRow('app', 'production', 'KEY_A', 1);
    const other = await versionRow('other', 'development', 'KEY_A', 1);
    await withTampered(
      prod,
      () => writeCipher(prod, dev),
      async () => assertFailedClosed(await owner('GET', secretsPath('app', 'production', 'KEY_A'))),
    );
    await withTampered(
      other,
      () => writeCipher(other, dev),
      async () => assertFailedClosed(await owner('GET', secretsPath('other', 'development', 'KEY_A'))),
    );
    assert.equal(await getValue(owner, 'app', 'production', 'KEY_A'), V.prod);
    assert.equal(await getValue(owner, 'other', 'development', 'KEY_A'), V.other);
  });

  it('one flipped bit, a swapped nonce or an unknown key version also fail closed', async () => {
    const a = await versionRow('app', 'development', 'KEY_A', 1);
    const b = await versionRow('app', 'development', 'KEY_B', 1);
    const flipped = Buffer.from(a.ciphertext);
    flipped[0]! ^= 0x01;
    await withTampered(a, () => writeCipher(a, { ...a, ciphertext: flipped }), async () => assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_A'))));
    const tag = Buffer.from(a.ciphertext);
    tag[tag.length - 1]! ^= 0x80;
    await withTampered(a, () => writeCipher(a, { ...a, ciphertext: tag }), async () => assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_A'))));
    await withTampered(a, () => writeCipher(a, { ...a, nonce: b.nonce }), async () => assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_A'))));
    await withTampered(
      a,
      () => writeCipher(a, { ...a, ciphertext: a.ciphertext.subarray(0, 8) }),
      async () => assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_A'))),
    );
    await withTampered(a, () => writeCipher(a, { ...a, key_version: 99 }), async () => assertFailedClosed(await owner('GET', secretsPath('app', 'development', 'KEY_A'))));
    assert.equal(await getValue(owner, 'app', 'development', 'KEY_A'), V.a);
  });

  it('a failed decryption is logged as a fault with the request id, without any value', async () => {
    const a = await versionRow('app', 'development', 'KEY_A', 1);
    const b = await versionRow('app', 'development', 'KEY_B', 1);
    let requestId = '';
    await withTampered(
      b,
      () => writeCipher(b, a),
      async () => {
        requestId = (await owner('GET', secretsPath('app', 'development', 'KEY_B'))).body.requestId;
      },
    );
    const line = srv.logText().split('\n').find((l) => l.includes(requestId) && l.includes('"level":50'));
    assert.ok(line, 'the fault is logged at error level with the request id');
    assert.match(line, /DecryptionError/);
    for (const v of Object.values(V)) assert.ok(!srv.logText().includes(v));
  });

  it('(unit) a version sealed for one org does not open under another org, even with the right data key', async () => {
    const key = randomBytes(32);
    const address = { orgId: 'org_a', projectId: 'prj_1', environmentId: 'env_1', key: 'K', version: 1 };
    const sealed = encryptWith({ version: 1, key }, address, 'value');
    const keyring = { keyVersion: async () => key } as unknown as Parameters<typeof decryptValue>[0];
    assert.equal(await decryptValue(keyring, srv.db, address, sealed), 'value');
    for (const moved of [{ orgId: 'org_b' }, { projectId: 'prj_2' }, { environmentId: 'env_2' }, { key: 'L' }, { version: 2 }]) {
      await assert.rejects(decryptValue(keyring, srv.db, { ...address, ...moved }, sealed), DecryptionError);
    }
  });
});
