import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertOneLineError, exitOf, startHarness, waitForOutput } from './harness.test-util.js';
import { NASTY_VALUES } from './nasty-values.test-util.js';

const PRINT_ENV = 'process.stdout.write(JSON.stringify(process.env))';

test('run injects the secrets, resolved, into the child environment', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'HOST=db.local', 'URL=postgres://${HOST}/app']);
  for (const [key, value] of Object.entries(NASTY_VALUES)) await h.ok(['secrets', 'set', key, '--stdin'], { stdin: value });

  const env = JSON.parse(await h.ok(['run', '--', process.execPath, '-e', PRINT_ENV], { env: { KEEP_ME: 'kept' } }));
  assert.equal(env.URL, 'postgres://db.local/app');
  assert.equal(env.KEEP_ME, 'kept');
  for (const [key, value] of Object.entries(NASTY_VALUES)) assert.equal(env[key], value, key);
});

test('secrets override existing variables unless --preserve-env', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'MODE=from-keynest']);
  const overridden = JSON.parse(await h.ok(['run', '--', process.execPath, '-e', PRINT_ENV], { env: { MODE: 'from-shell' } }));
  assert.equal(overridden.MODE, 'from-keynest');
  const preserved = JSON.parse(
    await h.ok(['run', '--preserve-env', '--', process.execPath, '-e', PRINT_ENV], { env: { MODE: 'from-shell' } }),
  );
  assert.equal(preserved.MODE, 'from-shell');
});

test('run uses --project/--env over the linked directory, and passes arguments untouched', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'STAGE=in-dev']);
  await h.ok(['secrets', 'set', 'STAGE=in-prod', '--env', 'production']);
  const script = 'process.stdout.write(JSON.stringify([process.env.STAGE, ...process.argv.slice(1)]))';
  const args = ['$HOME', '*', 'a b', '--env', '"q"'];
  assert.deepEqual(JSON.parse(await h.ok(['run', '--', process.execPath, '-e', script, ...args])), ['in-dev', ...args]);
  assert.deepEqual(
    JSON.parse(await h.ok(['run', '--env', 'production', '--', process.execPath, '-e', script])),
    ['in-prod'],
  );
});

test('run exits with the child exit status', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  const result = await h.cli(['run', '--', process.execPath, '-e', 'process.exit(7)']);
  assert.equal(result.code, 7);
  assert.equal(result.stderr, '');
});

test('a child killed by a signal gives 128 + the signal number', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  const result = await h.cli(['run', '--', process.execPath, '-e', "process.kill(process.pid, 'SIGKILL')"]);
  assert.equal(result.code, 137);
});

for (const [signal, status] of [['SIGTERM', 42], ['SIGINT', 43], ['SIGHUP', 44]] as const) {
  // Bounded: a lost signal must fail this test, not hang the suite.
  test(`${signal} sent to keynest is forwarded to the child`, { timeout: 60_000 }, async (t) => {
    const h = await startHarness(t);
    await h.setupProject();
    const script = `process.on('${signal}', () => process.exit(${status})); console.log('ready'); setInterval(() => {}, 1000)`;
    const child = h.start(['run', '--', process.execPath, '-e', script]);
    await waitForOutput(child, 'ready');
    child.kill(signal);
    assert.deepEqual(await exitOf(child), { code: status, signal: null });
  });
}

test('an unknown command exits 127 with one line', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  const result = await h.cli(['run', '--', 'keynest-no-such-command-xyz']);
  assertOneLineError(result, 127, 'command_not_found');
  assert.match(result.stderr, /keynest-no-such-command-xyz/);
});

test('run usage errors: no command, or a command without --', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.fails(['run'], 2, 'usage');
  await h.fails(['run', '--'], 2, 'usage');
  await h.fails(['run', 'echo', 'hi'], 2, 'usage');
});

test('run fails before starting the child when secrets cannot be read', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'BROKEN=${MISSING}']);
  await h.fails(['run', '--', process.execPath, '-e', 'console.log("started")'], 1, 'reference_not_found');
  await h.fails(['run', '--env', 'nope', '--', process.execPath, '-e', '0'], 1, 'environment_not_found');
});
