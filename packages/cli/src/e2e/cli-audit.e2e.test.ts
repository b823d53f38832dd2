import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutAuditTriggers } from '@keynest/server';
import { startHarness } from './harness.test-util.js';

test('keynest audit verify: intact, then names the record someone changed in the database (exit 1)', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=chain-value']);
  await h.ok(['secrets', 'get', 'API_KEY']);

  const made = await h.ok(['audit', 'checkpoint']);
  assert.match(made, /^Signed checkpoint at seq \d+ \([0-9a-f]{64}\)\.\n$/);
  assert.match(await h.ok(['audit', 'verify']), /^Audit chain intact: \d+ records, head seq \d+, 1 signed checkpoints match\.\n$/);
  const json = JSON.parse(await h.ok(['audit', 'verify', '--json']));
  assert.equal(json.ok, true);
  assert.equal(json.broken, null);

  const srv = h.server;
  const read = await srv.db.selectFrom('audit_events').select(['id', 'seq']).where('action', '=', 'secret.read').executeTakeFirstOrThrow();
  await withoutAuditTriggers(srv, async () => {
    await srv.db.updateTable('audit_events').set({ ip: '203.0.113.9' }).where('id', '=', read.id).execute();
  });
  const broken = await h.cli(['audit', 'verify']);
  assert.equal(broken.code, 1);
  assert.equal(broken.stderr, '');
  assert.match(broken.stdout, new RegExp(`^Audit chain BROKEN at record ${read.id} \\(hash_mismatch\\): record ${read.id} \\(seq ${read.seq}\\) was changed after it was written\\n\\d+ records verified before it\\.\\n$`));
  const brokenJson = await h.cli(['audit', 'verify', '--json']);
  assert.equal(brokenJson.code, 1);
  assert.deepEqual(JSON.parse(brokenJson.stdout).broken.recordId, Number(read.id));
  assert.doesNotMatch(broken.stdout + brokenJson.stdout, /chain-value/);
});
