import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMAIL, joinByInvitation as join, startHarness } from './harness.test-util.js';

test('keynest members: list, set-role by email or id, remove prints the secrets to rotate', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=dev-value']);
  await h.ok(['secrets', 'set', 'DB_PASS=prod-value', '--env', 'production']);
  const dev = await join(h, 'dev@example.org', 'developer');

  const members = JSON.parse(await h.ok(['members', 'list', '--json'])).members;
  assert.deepEqual(members.map((m: { email: string; role: string }) => [m.email, m.role]).sort(), [['dev@example.org', 'developer'], [EMAIL, 'owner']]);
  const devId = members.find((m: { email: string }) => m.email === 'dev@example.org').userId as string;
  assert.match(await h.ok(['members', 'list']), new RegExp(`^USER\\s+EMAIL\\s+ROLE\\s+2FA\\s+JOINED\\s+LAST ACTIVE\\n(.|\\n)*^${devId}\\s+dev@example\\.org\\s+developer\\s+off\\s`, 'm'));
  assert.match(await h.ok(['members', 'list'], dev), /dev@example\.org/, 'every member may see the list');

  assert.equal(await h.ok(['members', 'set-role', 'Dev@Example.org', 'admin']), 'dev@example.org is now admin.\n');
  assert.equal(JSON.parse(await h.ok(['whoami', '--json'], dev)).principal.role, 'admin');
  const byId = JSON.parse(await h.ok(['members', 'set-role', devId, 'developer', '--json'])).member;
  assert.equal(byId.role, 'developer');
  await h.fails(['members', 'set-role', EMAIL, 'viewer'], 1, 'last_owner');
  await h.fails(['members', 'set-role', EMAIL, 'viewer'], 1, 'forbidden', dev);
  await h.fails(['members', 'set-role', 'ghost@example.org', 'viewer'], 1, 'member_not_found');
  await h.fails(['members', 'set-role', 'usr_unknown', 'viewer'], 1, 'member_not_found');

  const removed = await h.ok(['members', 'remove', 'dev@example.org']);
  assert.equal(
    removed,
    [
      'Removed dev@example.org: ended 1 session and revoked 0 API tokens.',
      'They could read these secrets; rotate them:',
      'PROJECT  ENVIRONMENT  KEY',
      'app      development  API_KEY',
      'app      production   DB_PASS',
      '',
    ].join('\n'),
  );
  assert.doesNotMatch(removed, /dev-value|prod-value/);
  await h.fails(['whoami'], 1, 'not_logged_in', dev);
  await h.fails(['members', 'remove', 'dev@example.org'], 1, 'member_not_found');
  await h.fails(['members', 'remove', EMAIL], 1, 'last_owner');

  const viewer = await join(h, 'viewer@example.org', 'viewer');
  const json = JSON.parse(await h.ok(['members', 'remove', 'viewer@example.org', '--json']));
  assert.deepEqual(json, { revokedSessions: 1, revokedTokens: 0, readableSecrets: [] });
  assert.ok(viewer);
});

test('keynest members checks its arguments before calling the server; --help everywhere', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['members'], 2, 'usage');
  await h.fails(['members', 'nope'], 2, 'usage');
  await h.fails(['members', 'set-role', 'a@example.org'], 2, 'usage');
  await h.fails(['members', 'remove'], 2, 'usage');
  await h.fails(['members', 'list', 'extra'], 2, 'usage');
  await h.fails(['members', 'list'], 1, 'not_logged_in', { env: { XDG_CONFIG_HOME: h.dir('nobody'), KEYNEST_SERVER: h.server.url } });
  for (const sub of [[], ['list'], ['set-role'], ['remove']]) assert.match(await h.ok(['members', ...sub, '--help']), /^Usage: keynest members/);
  assert.match(await h.ok(['--help']), /^ {2}members list\|set-role\|project-role\|remove$/m);
});
