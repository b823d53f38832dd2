import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, UsageError } from '../errors.js';
import { DEFAULT_SERVER, resolveServer, resolveTarget, resolveToken } from './context.js';
import type { Credentials } from './credentials.js';
import { findLinkFile, writeLinkFile } from './link-file.js';

const STORED: Credentials = { server: 'http://stored:8200', accessToken: 'eyJ.stored.jwt', refreshToken: 'kn_ref_stored', sessionExpiresAt: '2030-01-01T00:00:00.000Z', email: 'a@b.c', org: 'Acme' };

test('server: --server, then KEYNEST_SERVER, then the stored login, then the default', () => {
  const env = { KEYNEST_SERVER: 'http://env:1' };
  assert.equal(resolveServer({ server: 'http://flag:1/', json: false }, env, STORED), 'http://flag:1');
  assert.equal(resolveServer({ server: undefined, json: false }, env, STORED), 'http://env:1');
  assert.equal(resolveServer({ server: undefined, json: false }, {}, STORED), 'http://stored:8200');
  assert.equal(resolveServer({ server: undefined, json: false }, {}, null), DEFAULT_SERVER);
  assert.throws(() => resolveServer({ server: 'not a url', json: false }, {}, null), UsageError);
});

test('token: KEYNEST_TOKEN wins; the stored session goes only to its own server', () => {
  assert.deepEqual(resolveToken({ KEYNEST_TOKEN: 'kn_api_x' }, STORED, 'http://stored:8200'), { token: 'kn_api_x', source: 'env' });
  assert.deepEqual(resolveToken({}, STORED, 'http://stored:8200'), { token: 'eyJ.stored.jwt', source: 'session' });
  assert.equal(resolveToken({}, STORED, 'http://other:8200'), null);
  assert.equal(resolveToken({}, null, 'http://stored:8200'), null);
});

function tempTree(t: import('node:test').TestContext): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'keynest-context-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('project/env: flags, then variables, then the nearest .keynest.json', (t) => {
  const root = tempTree(t);
  const nested = join(root, 'a', 'b');
  mkdirSync(nested, { recursive: true });
  writeLinkFile(root, 'linked-project', 'linked-env');

  assert.deepEqual(resolveTarget({}, { env: {}, cwd: nested }), { project: 'linked-project', env: 'linked-env' });
  assert.deepEqual(resolveTarget({}, { env: { KEYNEST_ENV: 'var-env' }, cwd: nested }), { project: 'linked-project', env: 'var-env' });
  assert.deepEqual(
    resolveTarget({ project: 'flag-project', env: 'flag-env' }, { env: { KEYNEST_PROJECT: 'p', KEYNEST_ENV: 'e' }, cwd: nested }),
    { project: 'flag-project', env: 'flag-env' },
  );
  // A nearer file wins over a farther one.
  writeFileSync(join(root, 'a', '.keynest.json'), '{"env": "nearer"}');
  assert.deepEqual(findLinkFile(nested), { path: join(root, 'a', '.keynest.json'), project: undefined, env: 'nearer' });
});

test('a missing project or environment is a usage error naming the flag', (t) => {
  const root = tempTree(t);
  assert.throws(() => resolveTarget({}, { env: {}, cwd: root }), (e: unknown) => e instanceof UsageError && /--project/.test(e.message));
  assert.throws(() => resolveTarget({ project: 'p' }, { env: {}, cwd: root }), (e: unknown) => e instanceof UsageError && /--env/.test(e.message));
});

test('a malformed .keynest.json is an error naming the file', (t) => {
  const root = tempTree(t);
  writeFileSync(join(root, '.keynest.json'), '{"project": 3}');
  assert.throws(() => findLinkFile(root), (e: unknown) => e instanceof CliError && e.message.includes('.keynest.json'));
  writeFileSync(join(root, '.keynest.json'), 'nope');
  assert.throws(() => findLinkFile(root), (e: unknown) => e instanceof CliError && e.code === 'link_file_invalid');
});
