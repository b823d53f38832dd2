import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMAIL, mailedToken, startHarness } from './harness.test-util.js';

const NEW_PASSWORD = 'Juniper-Comet-Basalt-7719';

test('keynest invitations: create, list, revoke; accept logs the invitee in with the role', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const created = JSON.parse(await h.ok(['invitations', 'create', 'Dev@Example.org', '--role', 'developer', '--json'])).invitation;
  assert.equal(created.email, 'dev@example.org');
  assert.equal(created.role, 'developer');
  assert.equal(created.invitedBy.email, EMAIL);
  const human = await h.ok(['invitations', 'create', 'ops@example.org', '--role', 'viewer']);
  assert.match(human, /^Invited ops@example\.org as viewer \(inv_\S+\); the mailed link works until \d{4}-\d\d-\d\d/);
  assert.doesNotMatch(human, /kn_inv_/, 'the token goes to the invitee only');

  const listed = JSON.parse(await h.ok(['invitations', 'list', '--json'])).invitations;
  assert.deepEqual(listed.map((i: { email: string }) => i.email).sort(), ['dev@example.org', 'ops@example.org']);
  assert.match(await h.ok(['invitations', 'list']), new RegExp(`^${created.id}\\s+dev@example\\.org\\s+developer\\s+${EMAIL}\\s`, 'm'));

  const ops = listed.find((i: { email: string }) => i.email === 'ops@example.org');
  const opsToken = (await mailedToken(h, 'ops@example.org', 'inv')).token;
  assert.equal(await h.ok(['invitations', 'revoke', ops.id]), `Revoked invitation ${ops.id}.\n`);
  await h.fails(['invitations', 'revoke', ops.id], 1, 'invitation_not_found');

  // The invitee, on their own machine.
  const home = h.dir('invitee');
  const invitee = { env: { XDG_CONFIG_HOME: home, HOME: home, KEYNEST_SERVER: h.server.url }, stdin: `${NEW_PASSWORD}\n` };
  await h.fails(['invitations', 'accept', opsToken, '--password-stdin'], 1, 'invalid_invitation_token', invitee);
  const { link } = await mailedToken(h, 'dev@example.org', 'inv');
  assert.equal(await h.ok(['invitations', 'accept', link, '--password-stdin'], invitee), `Joined ${h.server.url} as dev@example.org (organization Acme)\n`);
  const me = JSON.parse(await h.ok(['whoami', '--json'], invitee));
  assert.equal(me.principal.role, 'developer');
  await h.fails(['invitations', 'list'], 1, 'forbidden', invitee);
  await h.fails(['invitations', 'create', 'x@example.org', '--role', 'viewer'], 1, 'forbidden', invitee);
  await h.fails(['invitations', 'accept', link, '--password-stdin'], 1, 'invalid_invitation_token', invitee);
  assert.equal(await h.ok(['invitations', 'list']), 'No pending invitations.\n');

  await h.fails(['invitations', 'create', 'dev@example.org', '--role', 'viewer'], 1, 'already_member');
});

test('keynest invitations checks its arguments before calling the server; --help everywhere', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['invitations'], 2, 'usage');
  await h.fails(['invitations', 'nope'], 2, 'usage');
  await h.fails(['invitations', 'create', 'a@example.org'], 2, 'usage');
  await h.fails(['invitations', 'create', 'a@example.org', '--role', 'root'], 1, 'role_not_found');
  await h.fails(['invitations', 'create', '--role', 'viewer'], 2, 'usage');
  await h.fails(['invitations', 'revoke'], 2, 'usage');
  await h.fails(['invitations', 'accept', '--password-stdin'], 2, 'usage');
  await h.fails(['invitations', 'accept', 'kn_sgn_x', '--password-stdin'], 2, 'usage');
  await h.fails(['invitations', 'accept', 'kn_inv_x', '--password-stdin', '--totp', '1', '--backup-code', '2'], 2, 'usage');
  await h.fails(['invitations', 'list'], 1, 'not_logged_in', { env: { XDG_CONFIG_HOME: h.dir('nobody'), KEYNEST_SERVER: h.server.url } });
  for (const sub of [[], ['create'], ['list'], ['revoke'], ['accept']]) {
    assert.match(await h.ok(['invitations', ...sub, '--help']), /^Usage: keynest invitations/);
  }
  assert.match(await h.ok(['--help']), /^ {2}invitations create\|list\|revoke\|accept$/m);
});

test('keynest invitations accept with an existing account: its password, and a code when it has 2FA', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const home = h.dir('fay');
  const fay = { env: { XDG_CONFIG_HOME: home, HOME: home, KEYNEST_SERVER: h.server.url }, stdin: `${NEW_PASSWORD}\n` };
  await h.ok(['invitations', 'create', 'fay@example.org', '--role', 'viewer']);
  await h.ok(['invitations', 'accept', (await mailedToken(h, 'fay@example.org', 'inv')).token, '--password-stdin'], fay);
  const { secret } = JSON.parse(await h.ok(['2fa', 'enable', '--json'], fay));
  // Codes of consecutive 30 s steps by Debian's oathtool. The server takes one step either side of
  // its own, and never one at or before the last used: the current step's code, then the next
  // one's, stay good for at least half a minute each however slowly the commands run.
  if (Date.now() % 30_000 > 27_000) await sleep(3_500);
  const step = Math.floor(Date.now() / 30_000);
  const code = (s: number) => execFileSync('oathtool', ['--totp', '-b', '-N', `@${s * 30 + 1}`, secret], { encoding: 'utf8' }).trim();
  await h.ok(['2fa', 'confirm', code(step)], fay);
  // Removed from the org: the account stays.
  await h.ok(['members', 'remove', 'fay@example.org']);

  await h.ok(['invitations', 'create', 'fay@example.org', '--role', 'developer']);
  const { token } = await mailedToken(h, 'fay@example.org', 'inv');
  await h.fails(['invitations', 'accept', token, '--password-stdin'], 1, 'invalid_credentials', { ...fay, stdin: 'Not-Her-Password-1234\n' });
  const refused = await h.fails(['invitations', 'accept', token, '--password-stdin'], 1, 'two_factor_required', fay);
  assert.match(refused.stderr, /--totp CODE/);
  assert.equal(await h.ok(['invitations', 'accept', token, '--password-stdin', '--totp', code(step + 1)], fay), `Joined ${h.server.url} as fay@example.org (organization Acme)\n`);
  assert.equal(JSON.parse(await h.ok(['whoami', '--json'], fay)).principal.role, 'developer');
});
