import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asOwner, mailedTo, mailedToken, startHarness } from './harness.test-util.js';

const NEW_PASSWORD = 'Juniper-Comet-Basalt-7719';

test('keynest signup: the same answer while closed; once open, verify with the mailed token logs in', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  // The newcomer's own machine: no stored login.
  const home = h.dir('newcomer');
  const newcomer = { env: { XDG_CONFIG_HOME: home, HOME: home } };
  const ask = ['signup', '--server', h.server.url, '--email', 'new@acme.test', '--password-stdin'];
  const withPassword = { ...newcomer, stdin: `${NEW_PASSWORD}\n` };

  assert.deepEqual(JSON.parse(await h.ok([...ask, '--json'], withPassword)), { status: 'sent_if_allowed' });
  assert.equal(await mailedTo(h, 'new@acme.test'), false, 'sign-up is off by default');

  assert.equal((await asOwner(h, 'PATCH', '/api/v1/org/settings', { openSignup: { enabled: true, allowedDomains: ['acme.test'], role: 'developer' } })).status, 200);
  const text = await h.ok(ask, withPassword);
  assert.equal(text, 'If sign-up is open to new@acme.test, a mail with a link is on its way (valid 24 hours).\nFinish with: keynest signup verify TOKEN (the token from the mail, and the same password).\n');
  const { token, link } = await mailedToken(h, 'new@acme.test', 'sgn');

  const verify = ['signup', 'verify', '--server', h.server.url, '--password-stdin'];
  await h.fails([...verify, token], 1, 'invalid_credentials', { ...newcomer, stdin: 'not the password\n' });
  // The whole link works as well as the token.
  const done = await h.ok([...verify, link], withPassword);
  assert.equal(done, `Signed up to ${h.server.url} as new@acme.test (organization Acme)\n`);
  const me = JSON.parse(await h.ok(['whoami', '--json'], newcomer));
  assert.equal(me.principal.user.email, 'new@acme.test');
  assert.equal(me.principal.role, 'developer');
  await h.fails([...verify, token], 1, 'invalid_signup_token', withPassword);

  // --json keeps the session token out of the output, as login does.
  await h.ok(['signup', '--server', h.server.url, '--email', 'json@acme.test', '--password-stdin'], withPassword);
  const json = JSON.parse(await h.ok([...verify, (await mailedToken(h, 'json@acme.test', 'sgn')).token, '--json'], withPassword));
  assert.deepEqual(Object.keys(json).sort(), ['org', 'server', 'session', 'user']);
  assert.deepEqual(Object.keys(json.session), ['expiresAt']);
});

test('keynest signup: the password policy answers at once; usage errors exit 2; --help', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const weak = await h.fails(['signup', '--server', h.server.url, '--email', 'a@acme.test', '--password-stdin'], 1, 'weak_password', { stdin: 'password1234\n' });
  assert.doesNotMatch(weak.stderr, /password1234/);
  await h.fails(['signup', '--server', h.server.url, '--password-stdin'], 2, 'usage', { stdin: 'x\n' });
  await h.fails(['signup', '--server', h.server.url, '--email', 'a@acme.test'], 2, 'usage'); // no terminal, no --password-stdin
  await h.fails(['signup', 'verify', '--server', h.server.url, '--password-stdin'], 2, 'usage');
  await h.fails(['signup', 'verify', 'kn_inv_notasignup', '--server', h.server.url, '--password-stdin'], 2, 'usage');
  await h.fails(['signup', 'extra', '--email', 'a@acme.test'], 2, 'usage');
  for (const args of [['signup', '--help'], ['signup', 'verify', '-h']]) assert.match(await h.ok(args), /^Usage: keynest signup/);
  assert.match(await h.ok(['--help']), /^ {2}signup verify TOKEN/m);
});
