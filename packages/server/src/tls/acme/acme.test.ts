import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../logger.js';
import { eventually } from '../../test-support/receivers.js';
import { ACME_FILES, AcmeCertificateManager, Http01Challenges, createChallengeServer, startAcme, type AcmeCertificate, type AcmeManagerOptions } from './index.js';
import { freeTcpPort, pebbleInstalled, startPebble, type Pebble } from './pebble.testing.js';

const DOMAIN = 'keynest.acme.test';
const DAY_MS = 24 * 3600_000;
const installed = pebbleInstalled();
// CI installs pebble (.ci/run): there a missing binary is a failure, not a reason to skip.
const skip = !installed && process.env.CI !== 'true' ? 'pebble is not installed (apt-get install -y pebble)' : false;

function chain(certPem: string): X509Certificate[] {
  return (certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

describe('ACME: certificates from pebble over HTTP-01', { skip }, () => {
  let pebble: Pebble;
  let challenges: Http01Challenges;
  let responder: Server;
  let logText = '';
  const log = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => ((logText += c.toString()), cb()) }));
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-acme-'));
  const sealKey = randomBytes(32);
  const issued = () => (pebble.output().match(/Issued certificate serial/g) ?? []).length;

  function manager(clock: () => number, received: AcmeCertificate[], extra: Partial<AcmeManagerOptions> = {}): AcmeCertificateManager {
    return new AcmeCertificateManager({
      directoryUrl: pebble.directoryUrl,
      domains: [DOMAIN],
      email: 'ops@keynest.example.com',
      dataDir,
      caBundle: pebble.tlsCaPem,
      sealKey,
      challenges,
      clock,
      log,
      onCertificate: (c) => void received.push(c),
      pollMinMs: 50,
      pollMaxMs: 500,
      retryMinMs: 3600_000,
      ...extra,
    });
  }

  before(async () => {
    assert.ok(installed, 'pebble and pebble-challtestsrv must be installed in CI (.ci/run)');
    challenges = new Http01Challenges();
    responder = createChallengeServer(challenges, log);
    const httpPort = await freeTcpPort();
    responder.listen(httpPort, '127.0.0.1');
    await once(responder, 'listening');
    pebble = await startPebble(httpPort);
  });

  after(async () => {
    await pebble?.stop();
    await new Promise((r) => responder?.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  let first: AcmeCertificate;

  it('from KEYNEST_ACME_* settings to a certificate: startAcme runs the standalone responder on KEYNEST_ACME_HTTP_PORT and orders', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keynest-acme-env-'));
    const caFile = path.join(dir, 'pebble-ca.pem');
    writeFileSync(caFile, pebble.tlsCaPem);
    // The shared responder holds pebble's httpPort: close it while this test's own listener takes the port.
    const httpPort = (responder.address() as { port: number }).port;
    await new Promise((r) => responder.close(r));
    const config = loadConfig({
      KEYNEST_ACME_DIRECTORY_URL: pebble.directoryUrl,
      KEYNEST_ACME_DOMAINS: `${DOMAIN},www.${DOMAIN}`,
      KEYNEST_ACME_EMAIL: 'ops@keynest.example.com',
      KEYNEST_ACME_CA_FILE: caFile,
      KEYNEST_ACME_HTTP_PORT: String(httpPort),
    }, { dataDir: dir });
    const received: AcmeCertificate[] = [];
    const running = await startAcme(config.acme!, { host: '127.0.0.1', dataDir: dir, sealKey: undefined, clock: () => Date.now(), log, onCertificate: (c) => void received.push(c), standaloneResponder: true });
    try {
      assert.ok(running.certificate, `a certificate (last error: ${running.manager.status().lastError})`);
      assert.equal(running.responderPort, httpPort);
      assert.deepEqual(received, [running.certificate]);
      const leaf = new X509Certificate(running.certificate.certPem);
      assert.equal(leaf.checkHost(`www.${DOMAIN}`), `www.${DOMAIN}`, 'every configured name is on it');
      // Without a root key the keys are plain PEM, still 0600.
      assert.match(readFileSync(path.join(dir, 'acme', ACME_FILES.certificateKey), 'utf8'), /PRIVATE KEY/);
      assert.equal(statSync(path.join(dir, 'acme', ACME_FILES.certificateKey)).mode & 0o777, 0o600);
    } finally {
      await running.close();
      responder = createChallengeServer(challenges, log);
      responder.listen(httpPort, '127.0.0.1');
      await once(responder, 'listening');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('orders a certificate that pebble validated by fetching the HTTP-01 answer, chaining to its issuing CA, and stores it 0600 with sealed keys', async () => {
    const received: AcmeCertificate[] = [];
    const m = manager(() => Date.now(), received);
    const cert = await m.start();
    await m.stop();
    assert.ok(cert, `a certificate (last error: ${m.status().lastError})`);
    first = cert;
    assert.deepEqual(received, [cert], 'onCertificate got it');
    assert.match(logText, /answered an HTTP-01 challenge/, 'pebble fetched the answer from our responder');
    assert.equal(challenges.respond(`/.well-known/acme-challenge/${'A'.repeat(43)}`), null);

    const [leaf, intermediate, ...rest] = chain(cert.certPem);
    assert.ok(leaf && intermediate && rest.length === 0, 'leaf and intermediate');
    assert.equal(leaf.checkHost(DOMAIN), DOMAIN);
    const { rootPem, intermediatePem } = await pebble.issuers();
    const root = new X509Certificate(rootPem);
    assert.equal(intermediate.fingerprint256, new X509Certificate(intermediatePem).fingerprint256, 'the intermediate pebble issues with');
    assert.ok(leaf.verify(intermediate.publicKey), 'the leaf is signed by the intermediate');
    assert.ok(intermediate.verify(root.publicKey), 'the intermediate is signed by pebble\'s root');
    assert.equal(cert.notAfter.getTime(), new Date(leaf.validTo).getTime());

    const dir = path.join(dataDir, 'acme');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir).sort(), Object.values(ACME_FILES).sort(), 'no temporary files left');
    for (const name of readdirSync(dir)) assert.equal(statSync(path.join(dir, name)).mode & 0o777, 0o600, name);
    assert.equal(readFileSync(path.join(dir, ACME_FILES.certificate), 'utf8'), cert.certPem);
    for (const keyFile of [ACME_FILES.accountKey, ACME_FILES.certificateKey]) {
      assert.doesNotMatch(readFileSync(path.join(dir, keyFile), 'utf8'), /PRIVATE KEY/, `${keyFile} is sealed, not PEM`);
    }
    assert.ok(!logText.includes(cert.keyPem.split('\n')[1]!), 'the key is not logged');
  });

  it('a restart with a still-valid stored certificate loads it and orders nothing; under another root key the sealed keys are refused', async () => {
    const before = issued();
    const received: AcmeCertificate[] = [];
    const m = manager(() => Date.now(), received);
    const cert = await m.start();
    await m.stop();
    assert.equal(cert?.certPem, first.certPem);
    assert.equal(cert?.keyPem, first.keyPem);
    assert.equal(received.length, 1, 'onCertificate got the stored certificate');
    assert.equal(issued(), before, 'pebble issued nothing');
    assert.ok(m.status().renewAt! > new Date(), 'the renewal is in the future');

    // A copy of the data dir without the root key: the sealed keys do not open, nothing is served.
    const stolen = manager(() => Date.now(), [], { sealKey: randomBytes(32) });
    assert.equal(await stolen.start(), null);
    await stolen.stop();
    assert.match(stolen.status().lastError ?? '', /failed authentication/);
    assert.equal(issued(), before, 'and nothing was issued to it');
  });

  it('renews once less than a third of the lifetime is left (injected clock), and not before', async () => {
    const lifetime = first.notAfter.getTime() - first.notBefore.getTime();
    const renewAt = first.notAfter.getTime() - lifetime / 3;
    let now = renewAt - DAY_MS;
    const received: AcmeCertificate[] = [];
    const m = manager(() => now, received);
    await m.start();
    assert.equal(m.current()?.certPem, first.certPem, 'a day early: kept');
    const before = issued();

    now = renewAt + 1000;
    assert.equal(await m.renewIfDue(), 'renewed');
    await m.stop();
    assert.equal(issued(), before + 1);
    const renewed = m.current()!;
    assert.notEqual(renewed.certPem, first.certPem);
    assert.notEqual(renewed.keyPem, first.keyPem, 'a fresh key for every certificate');
    assert.deepEqual(received.at(-1), renewed, 'onCertificate got the renewal');
    assert.equal(readFileSync(path.join(dataDir, 'acme', ACME_FILES.certificate), 'utf8'), renewed.certPem, 'stored');
    first = renewed;
  });

  it('while the CA is down, a due renewal fails, the old certificate stays in use and on disk, and retries back off; when it is back, the timer renews', async () => {
    const lifetime = first.notAfter.getTime() - first.notBefore.getTime();
    let now = first.notAfter.getTime() - lifetime / 10;
    const certFile = path.join(dataDir, 'acme', ACME_FILES.certificate);
    await pebble.kill();

    const received: AcmeCertificate[] = [];
    const m = manager(() => now, received);
    assert.equal((await m.start())?.certPem, first.certPem, 'the stored certificate is served');
    let s = m.status();
    assert.equal(s.consecutiveFailures, 1);
    assert.match(s.lastError ?? '', /unreachable.*ECONNREFUSED/);
    assert.equal(s.nextAttemptAt?.getTime(), now + 3600_000, 'retry after the minimum backoff');
    assert.equal(await m.renewIfDue(), 'failed');
    s = m.status();
    assert.equal(s.nextAttemptAt?.getTime(), now + 2 * 3600_000, 'the backoff doubles');
    assert.equal(m.current()?.certPem, first.certPem);
    assert.equal(readFileSync(certFile, 'utf8'), first.certPem);
    assert.deepEqual(received, [m.current()], 'onCertificate only for the stored one');
    await m.stop();
    assert.match(logText, /keeping the current certificate and retrying/);

    // The same with a short backoff, left to its own timer: it keeps failing, then succeeds once pebble is back.
    now += 1000;
    const auto: AcmeCertificate[] = [];
    const retrying = manager(() => now, auto, { retryMinMs: 20, retryMaxMs: 100 });
    await retrying.start();
    await eventually(() => retrying.status().consecutiveFailures >= 3, 'repeated retries', 20_000);
    assert.equal(retrying.current()?.certPem, first.certPem);
    await pebble.restart();
    await eventually(() => auto.length === 2, 'a certificate after pebble came back', 60_000);
    await retrying.stop();
    assert.notEqual(auto[1]!.certPem, first.certPem);
    assert.equal(retrying.status().consecutiveFailures, 0);
    assert.equal(readFileSync(certFile, 'utf8'), auto[1]!.certPem);
    const { rootPem } = await pebble.issuers();
    assert.ok(chain(auto[1]!.certPem)[1]!.verify(new X509Certificate(rootPem).publicKey), 'issued by the new pebble');
  });
});
