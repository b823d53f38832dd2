import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { makeCa, makeLeaf, type TestCert } from './test-certs.test-util.js';
import { tlsRequest } from './test-https.test-util.js';

/** Replaces a file the way deploy tools do: write beside it, then rename over it. */
function replace(target: string, from: string): void {
  const tmp = `${target}.new`;
  copyFileSync(from, tmp);
  renameSync(tmp, target);
}

describe('certificate reload without restart', () => {
  let dir: string;
  let ca: TestCert;
  let first: TestCert;
  let live: { certFile: string; keyFile: string };
  let srv: TestServer;

  const servedFingerprint = async () => (await tlsRequest(srv.url, { ca: ca.cert }, 'GET', '/healthz')).serverFingerprint;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-reload-'));
    ca = makeCa(dir);
    first = makeLeaf(dir, 'first', { ca });
    live = { certFile: path.join(dir, 'live.crt'), keyFile: path.join(dir, 'live.key') };
    copyFileSync(first.certFile, live.certFile);
    copyFileSync(first.keyFile, live.keyFile);
    srv = await startServer({ env: { KEYNEST_TLS_CERT: live.certFile, KEYNEST_TLS_KEY: live.keyFile } });
  });
  after(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the first certificate', async () => {
    assert.equal(await servedFingerprint(), first.fingerprint);
    assert.equal(srv.keynest.tls?.fingerprint, first.fingerprint);
  });

  it('replaced files are noticed (fs.watch) and new connections get the new certificate; the server stays up', async () => {
    const second = makeLeaf(dir, 'second', { ca });
    replace(live.keyFile, second.keyFile);
    replace(live.certFile, second.certFile);
    // Waits for the watcher's reload (an event, not a duration): bounded, so a missed event fails.
    let seen = await servedFingerprint();
    for (let i = 0; i < 200 && seen !== second.fingerprint; i++) {
      await delay(50);
      seen = await servedFingerprint();
    }
    assert.equal(seen, second.fingerprint);
    assert.equal(srv.keynest.tls?.fingerprint, second.fingerprint);
    assert.match(srv.logText(), /TLS certificate reloaded/);
    assert.equal((await tlsRequest(srv.url, { ca: ca.cert }, 'GET', '/healthz')).status, 200);
    // Reading the same files again changes nothing.
    assert.equal(srv.keynest.tls?.reload('test'), 'unchanged');
  });

  it('a bad new pair is refused with a logged error, and the old certificate keeps serving', async () => {
    const before = srv.keynest.tls!.fingerprint;
    const other = makeLeaf(dir, 'other', { ca });
    const weak = makeLeaf(dir, 'weak', { ca, key: { type: 'rsa', bits: 1024 } });
    const expired = makeLeaf(dir, 'expired', { ca, days: 0 });
    const garbage = path.join(dir, 'garbage.pem');
    writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    const cases: [label: string, cert: string, key: string, reason: RegExp][] = [
      ['a key of another certificate', other.certFile, first.keyFile, /does not belong to the certificate/],
      ['an RSA key of 1024 bits', weak.certFile, weak.keyFile, /RSA key of 1024 bits/],
      ['an expired certificate', expired.certFile, expired.keyFile, /expired/],
      ['a file that is not a certificate', garbage, other.keyFile, /does not hold a PEM certificate/],
    ];
    for (const [label, cert, key, reason] of cases) {
      // Written in place, not renamed, with the watcher racing: the explicit reload decides here.
      copyFileSync(key, live.keyFile);
      copyFileSync(cert, live.certFile);
      const outcome = srv.keynest.tls!.reload('test');
      assert.equal(outcome, 'refused', label);
      const lines = srv.logText().split('\n').filter((l) => l.includes('TLS certificate reload refused'));
      assert.match(lines.at(-1) ?? '', reason, label);
      assert.equal(await servedFingerprint(), before, `${label}: the old certificate still serves`);
    }
    // No key material in the log, whatever was refused.
    for (const pair of [other, weak, expired, first]) assert.ok(!srv.logText().includes(pair.key.split('\n')[1]!), 'a private key was logged');
    // A good pair afterwards is taken.
    const third = makeLeaf(dir, 'third', { ca });
    copyFileSync(third.keyFile, live.keyFile);
    copyFileSync(third.certFile, live.certFile);
    assert.ok(['reloaded', 'unchanged'].includes(srv.keynest.tls!.reload('test')));
    assert.equal(await servedFingerprint(), third.fingerprint);
  });
});
