import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { insertOrg } from '../orgs/store.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { Keyring, KeyringError } from './keyring.js';

/** The keyring against a real database (the test server's), with orgs made directly. */
describe('keyring (envelope encryption)', () => {
  let srv: TestServer;
  const root = randomBytes(32);
  let n = 0;
  const newOrg = async () => {
    const id = `org_keyring_${++n}`;
    await insertOrg(srv.db, { id, name: id, now: Date.now() });
    return id;
  };
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it("creates an org's first data key, stored only wrapped", async () => {
    const org = await newOrg();
    const keyring = new Keyring(root);
    await keyring.createOrgKey(srv.db, org, Date.now());
    const active = await keyring.activeKey(srv.db, org);
    assert.equal(active.version, 1);
    assert.equal(active.key.length, 32);
    const row = await srv.db.selectFrom('data_keys').selectAll().where('org_id', '=', org).executeTakeFirstOrThrow();
    assert.equal(row.state, 'active');
    assert.ok(!Buffer.from(row.wrapped_key).includes(active.key), 'data key stored in the clear');
    assert.ok(!Buffer.from(row.wrapped_key).includes(active.key.subarray(0, 8)));
    // A fresh keyring (nothing cached) with the same root key unwraps the same key.
    assert.ok((await new Keyring(root).activeKey(srv.db, org)).key.equals(active.key));
  });

  it('a wrong root key cannot unwrap: KeyringError, never a wrong key', async () => {
    const org = await newOrg();
    await new Keyring(root).createOrgKey(srv.db, org, Date.now());
    const wrong = new Keyring(randomBytes(32));
    await assert.rejects(wrong.activeKey(srv.db, org), KeyringError);
    await assert.rejects(wrong.keyVersion(srv.db, org, 1), KeyringError);
    await assert.rejects(wrong.activeKey(srv.db, org), /does not open with this root key/);
  });

  it("a wrapped key moved to another org (or version) does not unwrap", async () => {
    const a = await newOrg();
    const b = await newOrg();
    await new Keyring(root).createOrgKey(srv.db, a, Date.now());
    await new Keyring(root).createOrgKey(srv.db, b, Date.now());
    const rowA = await srv.db.selectFrom('data_keys').selectAll().where('org_id', '=', a).executeTakeFirstOrThrow();
    await srv.db.updateTable('data_keys').set({ wrapped_key: Buffer.from(rowA.wrapped_key), nonce: Buffer.from(rowA.nonce) }).where('org_id', '=', b).execute();
    await assert.rejects(new Keyring(root).activeKey(srv.db, b), KeyringError);
    await srv.db.updateTable('data_keys').set({ version: 2 }).where('org_id', '=', a).execute();
    await assert.rejects(new Keyring(root).activeKey(srv.db, a), KeyringError);
  });

  it('rotation makes a new active key; old versions stay available; missing keys are faults', async () => {
    const org = await newOrg();
    const keyring = new Keyring(root);
    await keyring.createOrgKey(srv.db, org, Date.now());
    const v1 = await keyring.activeKey(srv.db, org);
    assert.equal(await keyring.rotate(srv.db, org, Date.now()), 2);
    const v2 = await keyring.activeKey(srv.db, org);
    assert.equal(v2.version, 2);
    assert.ok(!v2.key.equals(v1.key));
    assert.ok((await keyring.keyVersion(srv.db, org, 1)).equals(v1.key));
    assert.ok((await new Keyring(root).keyVersion(srv.db, org, 1)).equals(v1.key));
    const states = await srv.db.selectFrom('data_keys').select(['version', 'state']).where('org_id', '=', org).orderBy('version').execute();
    assert.deepEqual(states, [
      { version: 1, state: 'retired' },
      { version: 2, state: 'active' },
    ]);
    assert.equal(await keyring.rotate(srv.db, org, Date.now()), 3);
    await assert.rejects(keyring.keyVersion(srv.db, org, 4), KeyringError);
    await assert.rejects(keyring.activeKey(srv.db, 'org_without_keys'), KeyringError);
  });
});
