import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createLogger } from '../logger.js';
import { loadRootKey, RootKeyError, ROOT_KEY_FILE } from './root-key.js';

describe('root key', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'keynest-rootkey-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const logged: string[] = [];
  const log = createLogger('info', new Writable({ write: (c: Buffer, _e, done) => (logged.push(c.toString()), done()) }));

  it('prefers the key from the environment and touches no file', () => {
    const dir = fresh();
    const key = randomBytes(32);
    assert.equal(loadRootKey(key, dir, log), key);
    assert.equal(existsSync(path.join(dir, ROOT_KEY_FILE)), false);
  });

  it('creates a 32-byte key file with mode 0600 on first start, warns (without the key), then reuses it', () => {
    const dir = path.join(fresh(), 'nested', 'data');
    const key = loadRootKey(undefined, dir, log);
    const file = path.join(dir, ROOT_KEY_FILE);
    assert.equal(key.length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o077, 0, 'data directory readable by others');
    assert.ok(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').equals(key));
    const text = logged.join('');
    assert.match(text, /BACK IT UP/);
    assert.ok(!text.includes(key.toString('base64')), 'root key in the log');
    assert.ok(loadRootKey(undefined, dir, log).equals(key));
  });

  it('refuses a key file readable by group or others', () => {
    const dir = fresh();
    const key = loadRootKey(undefined, dir, log);
    const file = path.join(dir, ROOT_KEY_FILE);
    for (const mode of [0o640, 0o604, 0o644, 0o660, 0o606]) {
      chmodSync(file, mode);
      assert.throws(() => loadRootKey(undefined, dir, log), (err: Error) => {
        assert.ok(err instanceof RootKeyError);
        assert.match(err.message, /chmod 600/);
        assert.ok(!err.message.includes(key.toString('base64')));
        return true;
      });
    }
    chmodSync(file, 0o400);
    assert.ok(loadRootKey(undefined, dir, log).equals(key));
  });

  it('refuses a key file that does not hold 32 bytes', () => {
    const dir = fresh();
    const file = path.join(dir, ROOT_KEY_FILE);
    for (const content of [randomBytes(16).toString('base64'), '', 'not a key']) {
      writeFileSync(file, content, { mode: 0o600 });
      chmodSync(file, 0o600);
      assert.throws(() => loadRootKey(undefined, dir, log), RootKeyError);
    }
  });
});
