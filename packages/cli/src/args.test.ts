import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectPositionals, parseCommand, parseCount, splitCommand, valueOptionNames, wantsHelp } from './args.js';
import { HelpRequest, UsageError } from './errors.js';

test('splitCommand finds the command after global options, stepping over their values', () => {
  const values = valueOptionNames({ project: { type: 'string' } });
  assert.deepEqual(splitCommand(['--server', 'http://x', '--json', 'secrets', 'list'], values), {
    name: 'secrets',
    rest: ['--server', 'http://x', '--json', 'list'],
  });
  assert.deepEqual(splitCommand(['--project', 'set', 'get', 'A'], values), { name: 'get', rest: ['--project', 'set', 'A'] });
  assert.deepEqual(splitCommand(['--server=http://x', 'whoami'], values), { name: 'whoami', rest: ['--server=http://x'] });
  assert.deepEqual(splitCommand(['--', 'run'], values), { rest: ['--', 'run'] });
  assert.deepEqual(splitCommand([], values), { rest: [] });
});

test('wantsHelp sees -h/--help only before --', () => {
  assert.ok(wantsHelp(['secrets', '-h']));
  assert.ok(wantsHelp(['--help']));
  assert.ok(!wantsHelp(['run', '--', 'ls', '--help']));
});

test('parseCommand reads global options anywhere and command options', () => {
  const parsed = parseCommand(['A=1', '--json', '--env', 'prod', '--server', 'http://s'], { env: { type: 'string' } }, 'usage');
  assert.deepEqual(parsed.positionals, ['A=1']);
  assert.equal(parsed.values.env, 'prod');
  assert.deepEqual(parsed.globals, { server: 'http://s', json: true });
});

test('parseCommand turns parse failures into usage errors and --help into a help request', () => {
  assert.throws(() => parseCommand(['--nope'], {}, 'usage'), UsageError);
  assert.throws(() => parseCommand(['--env'], { env: { type: 'string' } }, 'usage'), UsageError);
  assert.throws(() => parseCommand(['--nope', '--help'], {}, 'the usage'), (error: unknown) => {
    assert.ok(error instanceof HelpRequest);
    assert.equal(error.usage, 'the usage');
    return true;
  });
});

test('expectPositionals names what is missing or extra', () => {
  assert.deepEqual(expectPositionals(['a'], ['KEY']), ['a']);
  assert.throws(() => expectPositionals([], ['KEY']), /missing KEY/);
  assert.throws(() => expectPositionals(['a', 'b'], ['KEY']), /unexpected argument: b/);
});

test('parseCount accepts whole numbers only', () => {
  assert.equal(parseCount('--n', undefined), undefined);
  assert.equal(parseCount('--n', '0'), 0);
  assert.equal(parseCount('--n', '42'), 42);
  for (const bad of ['-1', '1.5', 'x', '', '1e3', '9999999999999999']) assert.throws(() => parseCount('--n', bad), UsageError, bad);
});
