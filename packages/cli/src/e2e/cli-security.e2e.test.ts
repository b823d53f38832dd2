import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { joinByInvitation as join, startHarness } from './harness.test-util.js';

test('keynest security status: failed sign-ins by address, 2FA adoption and the admins without it, a stale token; --json', async (t) => {
  const h = await startHarness(t, { env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
  await h.setupProject();
  const admin = await join(h, 'admin@example.org', 'admin');
  const dev = await join(h, 'dev@example.org', 'developer');
  // The owner turns 2FA on (a code from Debian's oathtool; the server accepts a step either side).
  const { secret } = JSON.parse(await h.ok(['2fa', 'enable', '--json']));
  await h.ok(['2fa', 'confirm', execFileSync('oathtool', ['--totp', '-b', secret], { encoding: 'utf8' }).trim()]);

  const login = ['login', '--server', h.server.url, '--email', 'admin@example.org', '--password-stdin'];
  const elsewhere = { env: { XDG_CONFIG_HOME: h.dir('guesser'), HOME: h.dir('guesser') } };
  for (let i = 0; i < 3; i++) await h.fails(login, 1, 'invalid_credentials', { ...elsewhere, stdin: `wrong-guess-${i}\n` });
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${h.server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.5' },
      body: JSON.stringify({ email: 'admin@example.org', password: `other-guess-${i}` }),
    });
    assert.equal(res.status, 401);
  }
  const soon = JSON.parse(await h.ok(['tokens', 'create', '--name', 'deploy-soon', '--type', 'deploy', '--project', 'app', '--env', 'development', '--expires', '3d', '--json']));
  const kept = JSON.parse(await h.ok(['tokens', 'create', '--name', 'ci-kept', '--type', 'deploy', '--project', 'app', '--env', 'development', '--expires', '90d', '--json']));

  const out = await h.ok(['security', 'status']);
  assert.match(out, /^Security status of the last 24 hours \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ to \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)\n\n/);
  assert.match(out, /\nFailed sign-ins: 5\n {2}IP +ATTEMPTS +ACCOUNTS +LAST\n {2}127\.0\.0\.1 +3 +1 +\d{4}-\S+ \S+Z\n {2}203\.0\.113\.5 +2 +1 +\d{4}-\S+ \S+Z\n\n/);
  // The fifth failure in a row locked the account.
  assert.match(out, /\nAccount lockouts: 1\n {2}AT +ACCOUNT +IP\n {2}\d{4}-\S+ \S+Z +admin@example\.org +203\.0\.113\.5\n\n/);
  assert.match(out, /\nRate-limit refusals: none \(this server, since \S+ \S+\)\n\n/);
  assert.match(out, /\nTwo-factor authentication: 1 of 3 members \(33%\), required for nobody\nAdmins without 2FA: 1\n {2}EMAIL +ROLE\n {2}admin@example\.org +admin\n\n/);
  assert.doesNotMatch(out, /dev@example\.org/, 'a developer without 2FA is not the headline');
  assert.match(out, /\nStale API tokens: 1\n {2}NAME +ID +CREATED BY +LAST USED +EXPIRES +WHY\n {2}deploy-soon +tok_\S+ +owner@example\.com +never +\S+ \S+ +expires_7d\n\n/);
  assert.doesNotMatch(out, /ci-kept/);
  assert.match(out, /\nActive sessions: 3\n$/);
  for (const token of [soon.token, kept.token]) assert.ok(!out.includes(token) && !out.includes(token.slice(-16)), 'never a token');

  const json = JSON.parse(await h.ok(['security', 'status', '--json']));
  assert.equal(json.failedSignIns.total, 5);
  assert.deepEqual(json.failedSignIns.byIp.map((r: { ip: string; attempts: number }) => [r.ip, r.attempts]), [['127.0.0.1', 3], ['203.0.113.5', 2]]);
  assert.deepEqual([json.twoFactor.members, json.twoFactor.enabled, json.twoFactor.adminsWithout.map((m: { email: string }) => m.email)], [3, 1, ['admin@example.org']]);
  assert.ok(Math.abs(json.twoFactor.rate - 1 / 3) < 1e-9);
  assert.deepEqual(json.staleTokens.map((s: { name: string; reasons: string[] }) => [s.name, s.reasons]), [['deploy-soon', ['expires_7d']]]);
  assert.equal(json.activeSessions, 3);
  assert.ok(!JSON.stringify(json).includes(soon.token));

  assert.match(await h.ok(['security', 'status'], admin), /^Security status/, 'admins read it too');
  await h.fails(['security', 'status'], 1, 'forbidden', dev);
  await h.fails(['security', 'status'], 1, 'forbidden', { env: { KEYNEST_TOKEN: kept.token } });
});

test('keynest security checks its arguments; --help', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['security'], 2, 'usage');
  await h.fails(['security', 'nope'], 2, 'usage');
  await h.fails(['security', 'status', 'extra'], 2, 'usage');
  for (const sub of [[], ['status']]) assert.match(await h.ok(['security', ...sub, '--help']), /^Usage: keynest security status/);
  assert.match(await h.ok(['--help']), /^ {2}security status +the organization's security at a glance/m);
  assert.match(await h.ok(['security', 'status']), /\nActive sessions: 1\n$/);
});
