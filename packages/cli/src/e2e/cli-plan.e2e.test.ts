import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './harness.test-util.js';

test('keynest org plan: show usage against limits, set a plan (the instance operator), back to the default', async (t) => {
  const h = await startHarness(t, { env: { KEYNEST_DEFAULT_PLAN: 'free' } });
  await h.setupProject();
  const shown = await h.ok(['org', 'plan', 'show']);
  assert.match(shown, /is on the free plan \(the instance's default\)\./);
  assert.match(shown, /^QUOTA\s+USED\s+LIMIT$/m);
  assert.match(shown, /^members\s+1\s+5$/m);
  assert.match(shown, /^projects\s+1\s+3$/m);
  assert.match(shown, /^requests per minute\s+600$/m);

  await h.fails(['org', 'plan', 'set'], 2, 'usage');
  await h.fails(['org', 'plan', 'set', 'gold'], 2, 'usage');
  await h.fails(['org', 'plan', 'show', '--org', 'no-such-org'], 1, 'not_found');
  const set = JSON.parse(await h.ok(['org', 'plan', 'set', 'team', '--json'])).plan;
  assert.equal(set.plan, 'team');
  assert.equal(set.isDefault, false);
  assert.equal(set.limits.projects, 50);
  assert.match(await h.ok(['org', 'plan', 'show', '--org', set.org.name]), /is on the team plan\./);
  assert.match(await h.ok(['org', 'plan', 'set', 'default']), /^Plan set\. .* is on the free plan \(the instance's default\)\./);
  const [record] = await h.server.db.selectFrom('audit_events').select('details').where('action', '=', 'org.plan.set').orderBy('id', 'desc').limit(1).execute();
  assert.deepEqual(JSON.parse(record!.details), { before: 'team', after: 'default (free)' });
});
