import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { TestServer } from '../testing.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import type { Db } from './database.js';
import { GroupCommit } from './group-commit.js';

/**
 * Write transactions that arrive together share one commit on SQLite (storage/group-commit.ts).
 * What must hold whatever the grouping: each caller gets its own outcome, a failed one leaves no
 * trace, and nobody is answered before their writes are committed.
 */
describe('group commit', () => {
  let srv: TestServer;
  let call: Api;
  before(async () => {
    srv = await startServer();
    call = api(srv, await setupOwner(srv));
    await createProject(call, 'app');
  });
  after(() => srv.close());

  const setting = (name: string) => (trx: Db) => trx.insertInto('instance_settings').values({ name, value: 'v', updated_at: 1 }).execute();
  const settingsLike = async (prefix: string) =>
    (await srv.db.selectFrom('instance_settings').select('name').where('name', 'like', `${prefix}%`).orderBy('name').execute()).map((r) => r.name);

  it('a member that fails is rolled back alone and gets its own error; the others commit with their results', async () => {
    const sizes: number[] = [];
    const commits = new GroupCommit(srv.db, srv.keynest.storage.traits, (n) => sizes.push(n));
    const failure = new Error('member b fails');
    const results = await Promise.allSettled([
      commits.run(setting('gc1-a')),
      commits.run(async (trx) => {
        await setting('gc1-b')(trx);
        throw failure;
      }),
      commits.run(async (trx) => {
        await setting('gc1-c')(trx);
        // It sees what the members before it wrote, as if they had committed first.
        return (await trx.selectFrom('instance_settings').select('name').where('name', '=', 'gc1-a').execute()).length;
      }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.deepEqual(results[1], { status: 'rejected', reason: failure });
    assert.deepEqual(results[2], { status: 'fulfilled', value: 1 });
    assert.deepEqual(await settingsLike('gc1-'), ['gc1-a', 'gc1-c']);
    // SQLite: one commit for the three; PostgreSQL: each its own transaction, nothing grouped.
    assert.deepEqual(sizes, srv.database === 'sqlite' ? [3] : []);
  });

  it('when the shared commit fails, every member is refused and none of their writes is kept', { skip: process.env.KEYNEST_TEST_DATABASE_URL ? 'groups are SQLite only' : false }, async () => {
    const commits = new GroupCommit(srv.db, srv.keynest.storage.traits);
    const results = await Promise.allSettled([
      commits.run(setting('gc2-a')),
      // A foreign key checked only at COMMIT: the statement succeeds, the commit of the group fails.
      commits.run(async (trx) => {
        await sql`pragma defer_foreign_keys = on`.execute(trx);
        await trx.insertInto('memberships').values({ org_id: 'org_missing', user_id: 'usr_missing', role: 'member', created_at: 1 }).execute();
      }),
      commits.run(setting('gc2-c')),
    ]);
    for (const r of results) assert.equal(r.status, 'rejected', JSON.stringify(r));
    assert.deepEqual(await settingsLike('gc2-'), []);
  });

  it("each member runs in its caller's async context", async () => {
    const commits = new GroupCommit(srv.db, srv.keynest.storage.traits);
    const caller = new AsyncLocalStorage<number>();
    const seen = await Promise.all([1, 2, 3].map((i) => caller.run(i, () => commits.run(async () => caller.getStore()))));
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('20 secret writes at once, one with a stale ifVersion: 19 answered and audited, the stale one 409 with no version and no record', async () => {
    const token = await createToken(call, { name: 'writer', project: 'app', environment: 'development', access: 'write' });
    const writer = api(srv, token.token);
    await putSecret(call, 'app', 'development', 'STALE', 'first');
    const answers = await Promise.all([
      ...Array.from({ length: 19 }, (_, i) => writer('PUT', secretsPath('app', 'development', `GROUPED_${i}`), { value: `value-${i}` })),
      writer('PUT', secretsPath('app', 'development', 'STALE'), { value: 'second', ifVersion: 7 }),
    ]);
    for (const a of answers.slice(0, 19)) assert.equal(a.status, 200, a.text);
    assertError(answers[19]!, 409, 'version_conflict');

    const listed = await writer('GET', `${secretsPath('app', 'development')}?values=false`);
    assert.equal(listed.status, 200, listed.text);
    const versions = new Map((listed.body.secrets as { key: string; version: number }[]).map((s) => [s.key, s.version]));
    for (let i = 0; i < 19; i++) assert.equal(versions.get(`GROUPED_${i}`), 1);
    assert.equal(versions.get('STALE'), 1, 'the refused write made no version');

    const writes = await srv.db.selectFrom('audit_events').select(['target_name', 'actor_id']).where('action', '=', 'secret.write').where('actor_id', '=', token.info.id).execute();
    assert.deepEqual(writes.map((w) => w.target_name).sort(), Array.from({ length: 19 }, (_, i) => `GROUPED_${i}`).sort());
    const verify = await call('GET', '/api/v1/audit/verify');
    assert.equal(verify.status, 200, verify.text);
    assert.equal(verify.body.ok, true, verify.text);
  });
});
