import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDirectory, credentialsPath, deleteCredentials, readCredentials, writeCredentials } from './credentials.js';

const CREDENTIALS = { server: 'http://s', accessToken: 'eyJ.a.b', refreshToken: 'kn_ref_t', sessionExpiresAt: '2030-01-01T00:00:00.000Z', email: 'a@b.c', org: 'Acme' };

function tempHome(t: import('node:test').TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'keynest-credentials-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('the directory follows XDG_CONFIG_HOME, else ~/.config; a relative XDG path is ignored', () => {
  assert.equal(configDirectory({ XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/x/keynest');
  assert.equal(configDirectory({ HOME: '/h' }), '/h/.config/keynest');
  assert.equal(configDirectory({ XDG_CONFIG_HOME: 'relative', HOME: '/h' }), '/h/.config/keynest');
});

test('written 0600 in a 0700 directory, read back, deleted', (t) => {
  const env = { XDG_CONFIG_HOME: tempHome(t) };
  assert.equal(readCredentials(env), null);
  writeCredentials(env, CREDENTIALS);
  assert.equal(statSync(credentialsPath(env)).mode & 0o777, 0o600);
  assert.equal(statSync(configDirectory(env)).mode & 0o777, 0o700);
  assert.deepEqual(readCredentials(env), CREDENTIALS);
  assert.equal(deleteCredentials(env), true);
  assert.equal(deleteCredentials(env), false);
});

test('an existing loose file and directory are tightened on write', (t) => {
  const env = { XDG_CONFIG_HOME: tempHome(t) };
  mkdirSync(configDirectory(env), { mode: 0o755 });
  chmodSync(configDirectory(env), 0o755);
  writeFileSync(credentialsPath(env), '{}', { mode: 0o644 });
  writeCredentials(env, CREDENTIALS);
  assert.equal(statSync(credentialsPath(env)).mode & 0o777, 0o600);
  assert.equal(statSync(configDirectory(env)).mode & 0o777, 0o700);
});

test('a file that is not valid credentials is a clear error', (t) => {
  const env = { XDG_CONFIG_HOME: tempHome(t) };
  mkdirSync(configDirectory(env));
  writeFileSync(credentialsPath(env), '{"server": "x"}');
  assert.throws(() => readCredentials(env), { code: 'credentials_invalid' });
});
