import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startTestServer } from '../../testing.js';
import { HSTS_VALUE } from '../../http/hsts.js';
import { ACME_FILES } from './index.js';
import { freeTcpPort, pebbleInstalled, startPebble, type Pebble } from './pebble.testing.js';

const DOMAIN = 'keynest.acme.test';
const installed = pebbleInstalled();
// CI installs pebble (.ci/run): there a missing binary is a failure, not a reason to skip.
const skip = !installed && process.env.CI !== 'true' ? 'pebble is not installed (apt-get install -y pebble)' : false;

/** One HTTPS request on a fresh connection, trusting only `ca`, checking the name the certificate is for. */
function httpsGet(url: string, ca: string, urlPath: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${urlPath}`, { agent: false, ca, servername: DOMAIN }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

function plainGet(port: number, urlPath: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: urlPath, headers: { host: DOMAIN }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('keynest serve with KEYNEST_ACME_*: HTTPS with the certificate pebble issued', { skip }, () => {
  let pebble: Pebble;
  let httpPort: number;
  let dir: string;
  let caFile: string;

  before(async () => {
    assert.ok(installed, 'pebble and pebble-challtestsrv must be installed in CI (.ci/run)');
    httpPort = await freeTcpPort();
    pebble = await startPebble(httpPort);
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-acme-serve-'));
    caFile = path.join(dir, 'pebble-ca.pem');
    writeFileSync(caFile, pebble.tlsCaPem);
  });

  after(async () => {
    await pebble?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const acmeEnv = () => ({
    KEYNEST_ACME_DIRECTORY_URL: pebble.directoryUrl,
    KEYNEST_ACME_DOMAINS: DOMAIN,
    KEYNEST_ACME_EMAIL: 'ops@keynest.example.com',
    KEYNEST_ACME_CA_FILE: caFile,
    KEYNEST_ACME_HTTP_PORT: String(httpPort),
  });

  async function assertServesAcmeCertificate(srv: { url: string; dataDir: string; keynest: { acme: { fingerprint: string } | null } }): Promise<void> {
    assert.match(srv.url, /^https:\/\//);
    const { rootPem } = await pebble.issuers();
    const res = await httpsGet(srv.url, rootPem, '/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.headers['strict-transport-security'], HSTS_VALUE);
    const stored = new X509Certificate(readFileSync(path.join(srv.dataDir, 'acme', ACME_FILES.certificate), 'utf8'));
    assert.equal(res.fingerprint, stored.fingerprint256, 'the served certificate is the one ACME stored');
    assert.equal(srv.keynest.acme?.fingerprint, stored.fingerprint256.replaceAll(':', '').toLowerCase());
    assert.equal(stored.checkHost(DOMAIN), DOMAIN);
    // A client that trusts only the system roots refuses it: the trust really comes from pebble's root.
    await assert.rejects(httpsGet(srv.url, pebble.tlsCaPem, '/healthz'));
  }

  it('with ACME\'s own responder on KEYNEST_ACME_HTTP_PORT: orders, then serves HTTPS with that certificate and HSTS', async () => {
    const offset = { ms: 0 };
    const srv = await startTestServer({ env: acmeEnv(), clock: () => Date.now() + offset.ms });
    try {
      assert.equal(srv.keynest.acme?.running.responderPort, httpPort);
      await assertServesAcmeCertificate(srv);
      assert.match(srv.logText(), /answered an HTTP-01 challenge/);

      // A renewal (the clock moved to just before expiry) is served at once, with no restart.
      const first = srv.keynest.acme!.fingerprint;
      const { notAfter } = srv.keynest.acme!.running.manager.current()!;
      offset.ms = notAfter.getTime() - Date.now() - 60_000;
      assert.equal(await srv.keynest.acme!.running.manager.renewIfDue(), 'renewed');
      assert.notEqual(srv.keynest.acme!.fingerprint, first);
      await assertServesAcmeCertificate(srv);
      assert.match(srv.logText(), /acme: now serving the renewed certificate/);
    } finally {
      await srv.close();
    }
  });

  it('with KEYNEST_HTTP_REDIRECT_PORT = KEYNEST_ACME_HTTP_PORT: the redirect listener answers the challenge, never redirects its path, and redirects the rest', async () => {
    const srv = await startTestServer({ env: { ...acmeEnv(), KEYNEST_HTTP_REDIRECT_PORT: String(httpPort) } });
    try {
      assert.equal(srv.keynest.acme?.running.responderPort, null, 'no standalone responder');
      await assertServesAcmeCertificate(srv);
      assert.match(srv.logText(), /answered an HTTP-01 challenge/, 'pebble fetched the answer from the redirect listener');
      const httpsPort = Number(new URL(srv.url).port);
      const redirectUrl = await srv.keynest.startRedirect(httpsPort);
      assert.equal(Number(new URL(redirectUrl!).port), httpPort);
      const unknown = await plainGet(httpPort, `/.well-known/acme-challenge/${'A'.repeat(43)}`);
      assert.equal(unknown.status, 404, 'an unknown challenge is not redirected');
      assert.equal(unknown.headers.location, undefined);
      const other = await plainGet(httpPort, '/api/v1/orgs?x=1');
      assert.equal(other.status, 308);
      assert.equal(other.headers.location, `https://${DOMAIN}:${httpsPort}/api/v1/orgs?x=1`);
    } finally {
      await srv.close();
    }
  });

  it('refuses to start when no certificate can be obtained (the CA is down), and leaves the port free', async () => {
    await pebble.kill();
    try {
      await assert.rejects(startTestServer({ env: acmeEnv() }), /KEYNEST_ACME_DIRECTORY_URL: no certificate could be obtained .*refusing to start without HTTPS/);
      // The responder was closed: the port can be had again.
      await new Promise<void>((resolve, reject) => {
        const probe = httpRequest({ host: '127.0.0.1', port: httpPort, path: '/' });
        probe.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve() : reject(err)));
        probe.on('response', () => reject(new Error('something still listens on the ACME port')));
        probe.end();
      });
    } finally {
      await pebble.restart();
    }
  });
});
