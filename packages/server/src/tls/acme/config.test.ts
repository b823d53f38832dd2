import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../config.js';
import { refusedConfig } from '../../test-support/config.js';

const BASE = { KEYNEST_ACME_DIRECTORY_URL: 'letsencrypt-staging', KEYNEST_ACME_DOMAINS: 'Vault.Example.com, keys.example.com', KEYNEST_ACME_EMAIL: 'ops@example.com' };

function refused(env: Record<string, string>, variable: string, message: RegExp): void {
  assert.match(refusedConfig(env, variable, tmpdir()), message);
}

describe('ACME settings', () => {
  it('off by default; parsed and normalised when set', () => {
    assert.equal(loadConfig({}, { dataDir: tmpdir() }).acme, null);
    const dir = mkdtempSync(path.join(tmpdir(), 'keynest-acme-cfg-'));
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const acme = loadConfig({ ...BASE, KEYNEST_ACME_CA_FILE: caFile, KEYNEST_ACME_HTTP_PORT: '8080' }, { dataDir: tmpdir() }).acme;
    assert.deepEqual(acme, {
      directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
      domains: ['vault.example.com', 'keys.example.com'],
      email: 'ops@example.com',
      caBundle: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      httpPort: 8080,
      redirectPort: null,
    });
    assert.equal(loadConfig({ ...BASE, KEYNEST_ACME_DIRECTORY_URL: 'letsencrypt' }, { dataDir: tmpdir() }).acme?.httpPort, 80);
  });

  it('refuses wrong values with a line naming the variable', () => {
    refused({ KEYNEST_ACME_DOMAINS: 'a.example.com' }, 'KEYNEST_ACME_DOMAINS', /needs KEYNEST_ACME_DIRECTORY_URL/);
    refused({ ...BASE, KEYNEST_ACME_DIRECTORY_URL: 'http://acme.example.com/dir' }, 'KEYNEST_ACME_DIRECTORY_URL', /https:\/\//);
    refused({ ...BASE, KEYNEST_ACME_DOMAINS: '*.example.com' }, 'KEYNEST_ACME_DOMAINS', /wildcard/);
    refused({ ...BASE, KEYNEST_ACME_DOMAINS: '10.0.0.1' }, 'KEYNEST_ACME_DOMAINS', /not a host name/);
    refused({ ...BASE, KEYNEST_ACME_DOMAINS: 'localhost' }, 'KEYNEST_ACME_DOMAINS', /not a host name/);
    refused({ ...BASE, KEYNEST_ACME_DOMAINS: ' , ' }, 'KEYNEST_ACME_DOMAINS', /at least one/);
    refused({ KEYNEST_ACME_DIRECTORY_URL: 'letsencrypt', KEYNEST_ACME_EMAIL: 'ops@example.com' }, 'KEYNEST_ACME_DOMAINS', /required/);
    refused({ ...BASE, KEYNEST_ACME_EMAIL: 'ops' }, 'KEYNEST_ACME_EMAIL', /not an email/);
    refused({ ...BASE, KEYNEST_ACME_CA_FILE: '/nonexistent/ca.pem' }, 'KEYNEST_ACME_CA_FILE', /cannot read/);
    refused({ ...BASE, KEYNEST_ACME_HTTP_PORT: '70000' }, 'KEYNEST_ACME_HTTP_PORT', /between/);
    refused({ ...BASE, KEYNEST_TLS_CERT: '/etc/ssl/cert.pem' }, 'KEYNEST_TLS_CERT', /cannot be combined/);
    refused({ ...BASE, KEYNEST_TLS_KEY: '/etc/ssl/key.pem' }, 'KEYNEST_TLS_KEY', /cannot be combined/);
    refused({ ...BASE, KEYNEST_TLS_CLIENT_CA: '/etc/ssl/ca.pem' }, 'KEYNEST_TLS_CLIENT_CA', /not supported with ACME/);
    refused({ ...BASE, KEYNEST_TLS_RELOAD_CHECK_S: '60' }, 'KEYNEST_TLS_RELOAD_CHECK_S', /not supported with ACME/);
    refused({ ...BASE, KEYNEST_HTTP_REDIRECT_PORT: '8200' }, 'KEYNEST_HTTP_REDIRECT_PORT', /must differ from the main port/);
  });

  it('takes the HTTP->HTTPS redirect port (it may be the HTTP-01 port: one listener then serves both)', () => {
    const config = loadConfig({ ...BASE, KEYNEST_ACME_HTTP_PORT: '8080', KEYNEST_HTTP_REDIRECT_PORT: '8080' }, { dataDir: tmpdir() });
    assert.equal(config.acme?.redirectPort, 8080);
    assert.equal(config.tls, null, 'no certificate files');
  });

  it('counts as TLS in production mode (no "no TLS" refusal)', () => {
    const prod = { ...BASE, KEYNEST_MODE: 'production', KEYNEST_ROOT_KEY: Buffer.from(Array.from({ length: 32 }, (_, i) => i + 7)).toString('base64'), KEYNEST_PUBLIC_URL: 'https://vault.example.com' };
    assert.equal(loadConfig(prod, { dataDir: tmpdir() }).deployment, 'production');
    const { KEYNEST_ACME_DIRECTORY_URL: _d, KEYNEST_ACME_DOMAINS: _n, KEYNEST_ACME_EMAIL: _e, ...plain } = prod;
    refused(plain, 'KEYNEST_MODE', /no TLS/);
  });
});
