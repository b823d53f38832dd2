import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { manualClock } from '@keynest/server';
import { COMMAND_NAMES } from '../commands/index.js';
import { EMAIL, PASSWORD, assertOneLineError, exitOf, readCredentialsFile, startHarness, answerPrompts } from './harness.test-util.js';


test('setup logs in, stores a 0600 credential, and the setup token then stops working', async (t) => {
  const h = await startHarness(t);
  const setupArgs = ['setup', '--server', h.server.url, '--setup-token', h.server.setupToken, '--email', EMAIL, '--org', 'Acme', '--password-stdin'];
  const out = await h.ok(setupArgs, { stdin: `${PASSWORD}\n` });
  assert.match(out, new RegExp(`as ${EMAIL}`));

  assert.equal(statSync(h.credentialsFile).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(h.credentialsFile)).mode & 0o777, 0o700);
  const stored = readCredentialsFile(h);
  assert.equal(stored.server, h.server.url);
  assert.equal(stored.email, EMAIL);
  assert.equal(stored.org, 'Acme');
  assert.match(stored.accessToken, /^eyJ/);
  assert.match(stored.refreshToken, /^kn_ref_/);

  // The stored server is used when neither --server nor KEYNEST_SERVER is given.
  assert.match(await h.ok(['whoami']), new RegExp(`^${EMAIL} in organization Acme on ${h.server.url}`));

  const again = await h.cli(setupArgs, { stdin: PASSWORD });
  assertOneLineError(again, 1, /^(already_set_up|invalid_setup_token)$/);
  assert.ok(!again.stderr.includes(PASSWORD));
});

test('--password-stdin strips exactly one trailing newline', async (t) => {
  const h = await startHarness(t);
  const password = `${PASSWORD}\n`; // the password itself ends with a newline
  await h.ok(
    ['setup', '--server', h.server.url, '--setup-token', h.server.setupToken, '--email', EMAIL, '--org', 'Acme', '--password-stdin'],
    { stdin: `${password}\n` },
  );
  await h.fails(['login', '--email', EMAIL, '--password-stdin'], 1, 'invalid_credentials', { stdin: `${PASSWORD}\n` });
  await h.ok(['login', '--email', EMAIL, '--password-stdin'], { stdin: `${password}\n` });
});

test('login with a wrong password fails with one line and stores nothing', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.ok(['logout']);
  const wrong = 'wrong password 123';
  const result = await h.fails(['login', '--server', h.server.url, '--email', EMAIL, '--password-stdin'], 1, 'invalid_credentials', {
    stdin: wrong,
  });
  assert.ok(!result.stderr.includes(wrong));
  await h.fails(['whoami', '--server', h.server.url], 1, 'not_logged_in');

  const out = await h.ok(['login', '--server', h.server.url, '--email', EMAIL, '--password-stdin', '--json'], { stdin: PASSWORD });
  const answer = JSON.parse(out);
  assert.equal(answer.user.email, EMAIL);
  assert.equal(answer.org.name, 'Acme');
  assert.equal(answer.accessToken, undefined, 'the access token is not printed');
  assert.equal(answer.refreshToken, undefined, 'the refresh token is not printed');
  assert.doesNotMatch(out, /eyJ|kn_ref_/);
});

test('setup asks for the password on the terminal without echo, and confirms it', async (t) => {
  const h = await startHarness(t);
  const args = ['setup', '--server', h.server.url, '--setup-token', h.server.setupToken, '--email', EMAIL, '--org', 'Acme'];
  const mismatch = await answerPrompts(h.startInTerminal(args), [
    ['Password: ', `${PASSWORD}\r`],
    ['Confirm password: ', 'something else\r'],
  ]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.screen, /error: the passwords do not match \(password_mismatch\)/);

  // Backspace edits what was typed; nothing typed is echoed.
  const typed = `${PASSWORD}x\u007f\r`;
  const done = await answerPrompts(h.startInTerminal(args), [
    ['Password: ', typed],
    ['Confirm password: ', typed],
  ]);
  assert.equal(done.code, 0, done.screen);
  assert.match(done.screen, new RegExp(`Set up ${h.server.url} as ${EMAIL}`));
  assert.ok(!done.screen.includes(PASSWORD), 'the password is not echoed');
  await h.ok(['login', '--email', EMAIL, '--password-stdin'], { stdin: PASSWORD });
});

test('login without a terminal or --password-stdin is a usage error', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['login', '--email', EMAIL], 2, 'usage');
  await h.fails(['login', '--password-stdin'], 2, 'usage');
});

test('logout ends the session on the server, and a later use of it gets 401', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const { accessToken: token } = readCredentialsFile(h);
  assert.match(await h.ok(['logout']), /^Logged out of/);
  assert.throws(() => statSync(h.credentialsFile), { code: 'ENOENT' });

  await h.fails(['whoami'], 1, 'not_logged_in');
  const reused = await h.cli(['whoami', '--server', h.server.url], { env: { KEYNEST_TOKEN: token } });
  assertOneLineError(reused, 1, /^(unauthenticated|token_revoked|token_expired)$/);
  assert.match(reused.stderr, /keynest login/);
  assert.match(await h.ok(['logout']), /^Not logged in/);
});

test('logout forgets a session the server already refuses', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const stored = readCredentialsFile(h);
  writeFileSync(h.credentialsFile, JSON.stringify({ ...stored, accessToken: 'eyJnot.a.session', refreshToken: `kn_ref_${'x'.repeat(43)}` }));
  await h.ok(['logout']);
  assert.throws(() => statSync(h.credentialsFile), { code: 'ENOENT' });
});

test('login tightens an existing credentials file and directory to 0700/0600', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  chmodSync(h.credentialsFile, 0o644);
  chmodSync(dirname(h.credentialsFile), 0o755);
  await h.ok(['login', '--email', EMAIL, '--password-stdin'], { stdin: PASSWORD });
  assert.equal(statSync(h.credentialsFile).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(h.credentialsFile)).mode & 0o777, 0o700);
});

test('a stored session is not sent to another server', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['whoami', '--server', 'http://127.0.0.1:9'], 1, 'not_logged_in');
  await h.fails(['whoami'], 1, 'not_logged_in', { env: { KEYNEST_SERVER: 'http://localhost:9' } });
});

test('an unreachable server is one line naming its URL', async (t) => {
  const h = await startHarness(t);
  const result = await h.fails(['whoami'], 1, 'server_unreachable', {
    env: { KEYNEST_SERVER: 'http://127.0.0.1:9', KEYNEST_TOKEN: 'kn_api_x' },
  });
  assert.match(result.stderr, /http:\/\/127\.0\.0\.1:9/);
});

test('whoami --json prints the principal', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const me = JSON.parse(await h.ok(['whoami', '--json']));
  assert.equal(me.principal.type, 'user');
  assert.equal(me.principal.user.email, EMAIL);
});

test('projects and environments: create, list, delete with --yes', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  assert.match(await h.ok(['projects', 'create', 'web']), /Created project web with environments development, staging, production/);
  await h.ok(['projects', 'create', 'api', '--environments', 'dev,prod']);
  const listed = JSON.parse(await h.ok(['projects', 'list', '--json']));
  assert.deepEqual(listed.projects.map((p: { name: string }) => p.name).sort(), ['api', 'web']);
  const api = listed.projects.find((p: { name: string }) => p.name === 'api');
  assert.deepEqual(api.environments.map((e: { name: string }) => e.name).sort(), ['dev', 'prod']);
  assert.match(await h.ok(['projects', 'list']), /^NAME\s+ENVIRONMENTS\s+CREATED AT\n/);

  await h.fails(['projects', 'create', 'web'], 1, 'project_exists');
  await h.fails(['envs', 'list'], 2, 'usage');
  await h.ok(['envs', 'create', 'qa', '--project', 'web']);
  assert.match(await h.ok(['envs', 'list', '--project', 'web']), /^qa\s/m);
  await h.fails(['envs', 'delete', 'qa', '--project', 'web'], 2, 'usage');
  await h.ok(['envs', 'delete', 'qa', '--project', 'web', '--yes']);
  const envs = JSON.parse(await h.ok(['envs', 'list', '--json'], { env: { KEYNEST_PROJECT: 'web' } }));
  assert.deepEqual(envs.environments.map((e: { name: string }) => e.name).sort(), ['development', 'production', 'staging']);

  await h.fails(['projects', 'delete', 'api'], 2, 'usage');
  await h.ok(['projects', 'delete', 'api', '--yes']);
  await h.fails(['envs', 'list', '--project', 'api'], 1, 'project_not_found');
});

const HELP_COMMANDS = [
  [], ['serve'], ['setup'], ['login'], ['logout'], ['whoami'],
  ['projects'], ['projects', 'create'], ['projects', 'list'], ['projects', 'delete'],
  ['envs'], ['envs', 'create'], ['envs', 'list'], ['envs', 'delete'],
  ['secrets'], ['secrets', 'set'], ['secrets', 'get'], ['secrets', 'list'], ['secrets', 'delete'],
  ['secrets', 'restore'], ['secrets', 'history'], ['secrets', 'rollback'],
  ['run'], ['export'], ['import'], ['link'],
  ['tokens'], ['tokens', 'create'], ['tokens', 'list'], ['tokens', 'revoke'],
  ['admin'], ['admin', 'rotate-keys'], ['admin', 'rotate-signing-key'], ['audit'], ['audit', 'list'], ['audit', 'hash'],
  ['alerts'], ['alerts', 'list'], ['alerts', 'rules'], ['alerts', 'set'],
  ['security'], ['security', 'status'],
  ['sessions'], ['sessions', 'list'], ['sessions', 'revoke'],
  ['2fa'], ['2fa', 'status'], ['2fa', 'enable'], ['2fa', 'confirm'], ['2fa', 'disable'], ['2fa', 'backup-codes'],
  ['signup'], ['signup', 'verify'],
  ['invitations'], ['invitations', 'create'], ['invitations', 'list'], ['invitations', 'revoke'], ['invitations', 'accept'],
  ['members'], ['members', 'list'], ['members', 'set-role'], ['members', 'remove'], ['members', 'project-role'], ['members', 'project-role', 'set'],
  ['roles'], ['roles', 'list'], ['roles', 'get'], ['roles', 'templates'], ['roles', 'create'], ['roles', 'update'], ['roles', 'delete'],
  ['org'], ['org', 'allowlist'], ['org', 'allowlist', 'list'], ['org', 'allowlist', 'add'], ['org', 'allowlist', 'remove'],
  ['org', 'allowlist', 'enable'], ['org', 'allowlist', 'disable'],
  ['emergency-access'], ['emergency-access', 'request'], ['emergency-access', 'confirm'],
];

test('the help walk below covers every command there is', () => {
  const walked = new Set(HELP_COMMANDS.map((c) => c[0]).filter(Boolean));
  assert.deepEqual(COMMAND_NAMES.filter((name) => !walked.has(name)), []);
});

test('--help and -h on every command and subcommand print usage and exit 0', async (t) => {
  const h = await startHarness(t);
  for (const command of HELP_COMMANDS) {
    // -h is the same option as --help; checking it on each level of nesting is enough.
    const flags = command.length === 0 || command[0] === 'secrets' ? ['--help', '-h'] : ['--help'];
    for (const flag of flags) {
      const out = await h.ok([...command, flag]);
      assert.match(out, /^Usage: keynest/, `keynest ${command.join(' ')} ${flag}`);
    }
  }
});

test('usage errors exit 2 with one line; unknown commands and options are named', async (t) => {
  const h = await startHarness(t);
  await h.fails([], 2, 'usage');
  const unknown = await h.fails(['frobnicate'], 2, 'usage');
  assert.match(unknown.stderr, /frobnicate/);
  const option = await h.fails(['whoami', '--frob'], 2, 'usage');
  assert.match(option.stderr, /--frob/);
  await h.fails(['secrets', 'nope'], 2, 'usage');
  await h.fails(['setup', '--server', h.server.url], 2, 'usage');
  await h.fails(['whoami', '--server', 'ftp://example.com'], 2, 'usage');
});

test('a broken credentials file is one clear error', async (t) => {
  const h = await startHarness(t);
  mkdirSync(dirname(h.credentialsFile), { recursive: true });
  writeFileSync(h.credentialsFile, '{not json');
  await h.fails(['whoami'], 1, 'credentials_invalid');
});

test('a refused access token is renewed with the refresh token, once, even by parallel commands', async (t) => {
  const clock = manualClock(Date.now());
  const h = await startHarness(t, { clock });
  await h.setup();
  const stored = readCredentialsFile(h);
  // As if the stored access token had expired: the server refuses it, the refresh token still works.
  writeFileSync(h.credentialsFile, JSON.stringify({ ...stored, accessToken: `eyJ${'x'.repeat(30)}.eyJ${'x'.repeat(30)}.${'x'.repeat(43)}` }), { mode: 0o600 });
  const runs = await Promise.all(Array.from({ length: 5 }, () => h.cli(['whoami'])));
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  const renewed = readCredentialsFile(h);
  assert.match(renewed.accessToken, /^eyJ/);
  assert.notEqual(renewed.refreshToken, stored.refreshToken, 'the refresh token was rotated');
  assert.equal(statSync(h.credentialsFile).mode & 0o777, 0o600);
  assert.throws(() => statSync(`${h.credentialsFile}.lock`), { code: 'ENOENT' }, 'the lock is released');
  // Exactly one refresh happened: a second use of the old token would have ended the session.
  const refreshes = await h.server.db.selectFrom('audit_events').select(['outcome']).where('action', '=', 'session.refresh').execute();
  assert.deepEqual(refreshes.map((r) => r.outcome), ['success']);
  assert.match(await h.ok(['whoami']), new RegExp(EMAIL));

  // A lock left by a keynest that crashed mid-refresh (its process is gone) is taken over.
  const current = readCredentialsFile(h);
  writeFileSync(`${h.credentialsFile}.lock`, '2147483646\nleft-by-a-crash\n', { mode: 0o600 });
  writeFileSync(h.credentialsFile, JSON.stringify({ ...current, accessToken: `eyJ${'z'.repeat(30)}.eyJ${'z'.repeat(30)}.${'z'.repeat(43)}` }), { mode: 0o600 });
  assert.match(await h.ok(['whoami']), new RegExp(EMAIL));
  assert.throws(() => statSync(`${h.credentialsFile}.lock`), { code: 'ENOENT' });
  const renewedAgain = readCredentialsFile(h);
  assert.notEqual(renewedAgain.refreshToken, current.refreshToken);

  // Someone else used the stored refresh token first (a stolen copy): the session ends for both.
  const thief = await fetch(`${h.server.url}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: renewedAgain.refreshToken }) });
  assert.equal(thief.status, 200);
  clock.advance(10_001);
  writeFileSync(h.credentialsFile, JSON.stringify({ ...renewedAgain, accessToken: `eyJ${'y'.repeat(30)}.eyJ${'y'.repeat(30)}.${'y'.repeat(43)}` }), { mode: 0o600 });
  await h.fails(['whoami'], 1, 'not_logged_in');
  const thiefAccess = ((await thief.json()) as { accessToken: string }).accessToken;
  const me = await fetch(`${h.server.url}/api/v1/me`, { headers: { authorization: `Bearer ${thiefAccess}` } });
  assert.equal(me.status, 401, 'reuse detection ended the session, the thief included');
});
