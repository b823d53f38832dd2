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

test('keynest audit search: filters, a relative --from, the next-page cursor, and usage errors', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=search-dev']);
  await h.ok(['secrets', 'set', 'API_KEY=search-prod', '--env', 'production']);
  await h.ok(['secrets', 'get', 'API_KEY', '--env', 'production']);
  await h.ok(['secrets', 'get', 'API_KEY']);

  const out = await h.ok(['audit', 'search', '--action', 'secret.read', '--env', 'production', '--from', '7d']);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+AT\s+ACTION\s+ACTOR\s+TARGET\s+WHERE\s+OUTCOME\s+IP$/);
  assert.equal(lines.length, 2, out);
  assert.match(lines[1]!, /secret\.read\s+owner@example\.com\s+secret:API_KEY\s+app\/production\s+success\s+127\.0\.0\.1$/);
  assert.doesNotMatch(out, /search-prod|search-dev/);

  const first = JSON.parse(await h.ok(['audit', 'search', '--limit', '2', '--json']));
  assert.equal(first.events.length, 2);
  assert.equal(first.next, first.events[1].id);
  assert.match(await h.ok(['audit', 'search', '--limit', '2']), new RegExp(`\\nnext: --before ${first.next}\\n$`));
  const second = JSON.parse(await h.ok(['audit', 'search', '--limit', '2', '--before', String(first.next), '--json']));
  assert.ok(second.events.every((e: { id: number }) => e.id < first.next));

  assert.equal(await h.ok(['audit', 'search', '--from', '2099-01-01']), 'No audit events.\n');
  await h.fails(['audit', 'search', '--from', 'last tuesday'], 2, 'usage');
  await h.fails(['audit', 'search', '--outcome', 'maybe'], 2, 'usage');
});
