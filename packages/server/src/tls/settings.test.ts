import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../config.js';
import { makeCa, makeLeaf, type TestCert } from './test-certs.test-util.js';
import { refusedConfig } from '../test-support/config.js';

const GOOD_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 7)).toString('base64');

const failure = refusedConfig;

describe('TLS settings', () => {
  let dir: string;
  let ca: TestCert;
  let leaf: TestCert;
  let other: TestCert;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-tls-config-'));
    ca = makeCa(dir);
    leaf = makeLeaf(dir, 'leaf', { ca });
    other = makeLeaf(dir, 'other', { ca });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('off by default; on with both files, the pair read and checked at load', () => {
    assert.equal(loadConfig({}).tls, null);
    const config = loadConfig({ KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: leaf.keyFile });
    assert.equal(config.tls?.initial.fingerprint, leaf.fingerprint);
    assert.equal(config.tls?.clientCa, null);
    assert.equal(config.tls?.redirectPort, null);
    assert.equal(config.tls?.reloadCheckS, 60);
    assert.equal(config.deployment, 'development');
  });

  it('both or neither, readable, a matching pair, a strong key: else one line naming the variable, never the key', () => {
    assert.match(failure({ KEYNEST_TLS_CERT: leaf.certFile }, 'KEYNEST_TLS_KEY'), /both or neither/);
    assert.match(failure({ KEYNEST_TLS_KEY: leaf.keyFile }, 'KEYNEST_TLS_CERT'), /both or neither/);
    assert.match(failure({ KEYNEST_TLS_CERT: path.join(dir, 'missing.crt'), KEYNEST_TLS_KEY: leaf.keyFile }, 'KEYNEST_TLS_CERT'), /cannot read.*ENOENT/);
    assert.match(failure({ KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: path.join(dir, 'missing.key') }, 'KEYNEST_TLS_KEY'), /cannot read/);
    const mismatch = failure({ KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: other.keyFile }, 'KEYNEST_TLS_CERT');
    assert.match(mismatch, /does not belong/);
    // The key file given as the certificate: refused, and its contents are not in the message.
    const swapped = failure({ KEYNEST_TLS_CERT: leaf.keyFile, KEYNEST_TLS_KEY: leaf.certFile }, 'KEYNEST_TLS_CERT');
    assert.ok(!swapped.includes(leaf.key.split('\n')[1]!), 'key material in the message');
    const weakRsa = makeLeaf(dir, 'weak-rsa', { ca, key: { type: 'rsa', bits: 1024 } });
    assert.match(failure({ KEYNEST_TLS_CERT: weakRsa.certFile, KEYNEST_TLS_KEY: weakRsa.keyFile }, 'KEYNEST_TLS_KEY'), /RSA key of 1024 bits/);
    const weakEc = makeLeaf(dir, 'weak-ec', { ca, key: { type: 'ec', curve: 'prime192v1' } });
    assert.match(failure({ KEYNEST_TLS_CERT: weakEc.certFile, KEYNEST_TLS_KEY: weakEc.keyFile }, 'KEYNEST_TLS_KEY'), /EC key/);
  });

  it('mutual TLS, redirect and reload settings need TLS, and are validated', () => {
    const tls = { KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: leaf.keyFile };
    for (const name of ['KEYNEST_TLS_CLIENT_CA', 'KEYNEST_TLS_CLIENT_AUTH', 'KEYNEST_HTTP_REDIRECT_PORT', 'KEYNEST_TLS_RELOAD_CHECK_S']) {
      assert.match(failure({ [name]: name === 'KEYNEST_TLS_CLIENT_CA' ? ca.certFile : '1' }, name), /needs built-in TLS/);
    }
    assert.match(failure({ ...tls, KEYNEST_TLS_CLIENT_AUTH: 'required' }, 'KEYNEST_TLS_CLIENT_AUTH'), /needs KEYNEST_TLS_CLIENT_CA/);
    assert.match(failure({ ...tls, KEYNEST_TLS_CLIENT_CA: ca.certFile, KEYNEST_TLS_CLIENT_AUTH: 'sometimes' }, 'KEYNEST_TLS_CLIENT_AUTH'), /optional or required/);
    const notPem = path.join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    assert.match(failure({ ...tls, KEYNEST_TLS_CLIENT_CA: notPem }, 'KEYNEST_TLS_CLIENT_CA'), /PEM certificate/);
    assert.equal(loadConfig({ ...tls, KEYNEST_TLS_CLIENT_CA: ca.certFile }).tls?.clientCa?.mode, 'optional');
    assert.equal(loadConfig({ ...tls, KEYNEST_TLS_CLIENT_CA: ca.certFile, KEYNEST_TLS_CLIENT_AUTH: 'required' }).tls?.clientCa?.mode, 'required');
    assert.match(failure({ ...tls, KEYNEST_PORT: '8443', KEYNEST_HTTP_REDIRECT_PORT: '8443' }, 'KEYNEST_HTTP_REDIRECT_PORT'), /must differ/);
    assert.equal(loadConfig({ ...tls, KEYNEST_HTTP_REDIRECT_PORT: '8080' }).tls?.redirectPort, 8080);
    failure({ ...tls, KEYNEST_TLS_RELOAD_CHECK_S: '0' }, 'KEYNEST_TLS_RELOAD_CHECK_S');
    assert.match(failure({ KEYNEST_MODE: 'prod' }, 'KEYNEST_MODE'), /development or production/);
  });

  describe('production mode (KEYNEST_MODE=production)', () => {
    const ready = () => ({
      KEYNEST_MODE: 'production',
      KEYNEST_TLS_CERT: leaf.certFile,
      KEYNEST_TLS_KEY: leaf.keyFile,
      KEYNEST_ROOT_KEY: GOOD_KEY,
      KEYNEST_PUBLIC_URL: 'https://vault.example.com',
    });

    it('starts with TLS from a CA, an explicit root key and an https public URL', () => {
      assert.equal(loadConfig(ready()).deployment, 'production');
    });

    it('refuses plain HTTP unless a TLS-terminating proxy is declared (KEYNEST_TRUST_PROXY)', () => {
      const { KEYNEST_TLS_CERT: _c, KEYNEST_TLS_KEY: _k, ...plain } = ready();
      assert.match(failure(plain, 'KEYNEST_MODE'), /production mode refuses to start: no TLS/);
      assert.equal(loadConfig({ ...plain, KEYNEST_TRUST_PROXY: '10.0.0.1' }).tls, null);
      assert.match(failure({ ...plain, KEYNEST_TRUST_PROXY: 'false' }, 'KEYNEST_MODE'), /no TLS/);
    });

    it('refuses to make up a root key; an existing key file will do', () => {
      const { KEYNEST_ROOT_KEY: _r, ...noKey } = ready();
      const dataDir = mkdtempSync(path.join(dir, 'data-'));
      assert.match(failure(noKey, 'KEYNEST_MODE', dataDir), /no root key/);
      writeFileSync(path.join(dataDir, 'root.key'), `${GOOD_KEY}\n`, { mode: 0o600 });
      assert.equal(loadConfig(noKey, { dataDir }).deployment, 'production');
    });

    it('refuses a self-signed or expired certificate, a default or plain-HTTP public URL, an open metrics port without a token', () => {
      const selfSigned = makeLeaf(dir, 'self', {});
      assert.match(failure({ ...ready(), KEYNEST_TLS_CERT: selfSigned.certFile, KEYNEST_TLS_KEY: selfSigned.keyFile }, 'KEYNEST_MODE'), /self-signed/);
      const expired = makeLeaf(dir, 'expired', { ca, days: 0 });
      assert.match(failure({ ...ready(), KEYNEST_TLS_CERT: expired.certFile, KEYNEST_TLS_KEY: expired.keyFile }, 'KEYNEST_MODE'), /expired/);
      const { KEYNEST_PUBLIC_URL: _u, ...noUrl } = ready();
      assert.match(failure(noUrl, 'KEYNEST_MODE'), /KEYNEST_PUBLIC_URL/);
      assert.match(failure({ ...ready(), KEYNEST_PUBLIC_URL: 'http://vault.example.com' }, 'KEYNEST_MODE'), /KEYNEST_PUBLIC_URL/);
      assert.match(failure({ ...ready(), KEYNEST_METRICS_PORT: '9100', KEYNEST_METRICS_HOST: '0.0.0.0' }, 'KEYNEST_MODE'), /KEYNEST_METRICS_TOKEN/);
      assert.equal(loadConfig({ ...ready(), KEYNEST_METRICS_PORT: '9100' }).deployment, 'production', 'loopback metrics without a token are fine');
    });

    it('refuses weak keys whatever the mode (a trivial root key, a short metrics token, a small TLS key)', () => {
      failure({ ...ready(), KEYNEST_ROOT_KEY: Buffer.alloc(32, 7).toString('base64') }, 'KEYNEST_ROOT_KEY');
      failure({ ...ready(), KEYNEST_METRICS_TOKEN: 'short' }, 'KEYNEST_METRICS_TOKEN');
      const weak = makeLeaf(dir, 'weak-prod', { ca, key: { type: 'rsa', bits: 1024 } });
      failure({ ...ready(), KEYNEST_TLS_CERT: weak.certFile, KEYNEST_TLS_KEY: weak.keyFile }, 'KEYNEST_TLS_KEY');
    });
  });
});
