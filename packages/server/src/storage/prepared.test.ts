import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { PreparedQuery } from './prepared.js';

describe('PreparedQuery', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
    const now = 1;
    await srv.db.insertInto('instance_settings').values([
      { name: 'a', value: 'one', updated_at: now },
      { name: 'b', value: "two'; drop table orgs; --", updated_at: now },
      { name: 'c', value: 'three', updated_at: now },
    ]).execute();
  });
  after(() => srv.close());

  const byName = new PreparedQuery((db, name: string) =>
    db.selectFrom('instance_settings').select(['name', 'value']).where('name', '=', name).where('updated_at', '>', 0).limit(2),
  );

  it('gives what the same query builder gives, for each new set of parameters', async () => {
    for (const name of ['a', 'b', 'c', 'missing']) {
      const expected = await srv.db.selectFrom('instance_settings').select(['name', 'value']).where('name', '=', name).where('updated_at', '>', 0).limit(2).execute();
      assert.deepEqual(await byName.execute(srv.db, name), expected);
    }
    assert.equal((await byName.executeTakeFirst(srv.db, 'b'))?.value, "two'; drop table orgs; --");
  });

  it('keeps values bound: a hostile value is data, not SQL', async () => {
    assert.deepEqual(await byName.execute(srv.db, "a' OR '1'='1"), []);
    assert.ok((await srv.db.selectFrom('orgs').selectAll().execute()) !== undefined, 'orgs table still there');
  });

  it('refuses a builder that ignores one of its parameters', async () => {
    const broken = new PreparedQuery((db, _unused: string) => db.selectFrom('instance_settings').select('name'));
    await assert.rejects(broken.execute(srv.db, 'x'), /does not use parameter 0/);
  });
});
