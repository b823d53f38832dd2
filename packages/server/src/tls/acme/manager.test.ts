import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../logger.js';
import { Http01Challenges } from './challenges.js';
import { AcmeCertificateManager, type AcmeCertificate } from './manager.js';
import { freeTcpPort } from './pebble.testing.js';
import { AcmeFileStore } from './store.js';

/** A self-signed certificate from openssl (independent of the code under test), valid from now for `days`. */
function selfSigned(dir: string, names: string[], days: number): { certPem: string; keyPem: string } {
  const key = path.join(dir, `k${names.join('_')}${days}.pem`);
  const cert = path.join(dir, `c${names.join('_')}${days}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days),
    '-keyout', key, '-out', cert, '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`], { stdio: 'ignore' });
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

describe('ACME manager: what it does with the stored certificate (no CA reachable)', () => {
  it('uses a good stored certificate; orders instead for a missing domain, a wrong key or an expired one; a refusing listener is logged, not retried as an order', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keynest-acme-mgr-'));
    const closedPort = await freeTcpPort();
    let logText = '';
    const log = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => ((logText += c.toString()), cb()) }));
    const store = new AcmeFileStore(dir, undefined);
    const run = async (clock: () => number, onCertificate: (c: AcmeCertificate) => void = () => undefined) => {
      const m = new AcmeCertificateManager({
        directoryUrl: `https://127.0.0.1:${closedPort}/dir`, domains: ['a.example.com', 'b.example.com'], email: 'ops@example.com',
        dataDir: dir, challenges: new Http01Challenges(), clock, log, onCertificate,
      });
      const cert = await m.start();
      await m.stop();
      return { cert, status: m.status() };
    };
    try {
      const good = selfSigned(dir, ['a.example.com', 'b.example.com'], 90);
      store.writeCertificate(good.certPem, good.keyPem);
      let delivered = 0;
      const ok = await run(() => Date.now(), () => void delivered++);
      assert.equal(ok.cert?.certPem, good.certPem);
      assert.equal(ok.status.consecutiveFailures, 0, 'nothing ordered');
      assert.equal(delivered, 1);
      // 90 days, renewed with 30 left.
      assert.equal(ok.status.renewAt!.getTime(), ok.cert!.notAfter.getTime() - (ok.cert!.notAfter.getTime() - ok.cert!.notBefore.getTime()) / 3);

      const refusing = await run(() => Date.now(), () => {
        throw new Error('bad certificate for the listener');
      });
      assert.equal(refusing.cert?.certPem, good.certPem);
      assert.equal(refusing.status.consecutiveFailures, 0);
      assert.match(logText, /the listener refused the new certificate/);

      const cases: [string, { certPem: string; keyPem: string }, () => number][] = [
        ['a missing domain', selfSigned(dir, ['a.example.com'], 90), () => Date.now()],
        ['a key of another certificate', { certPem: good.certPem, keyPem: selfSigned(dir, ['x.example.com'], 1).keyPem }, () => Date.now()],
        ['an expired certificate', good, () => Date.now() + 91 * 24 * 3600_000],
      ];
      for (const [what, stored, clock] of cases) {
        store.writeCertificate(stored.certPem, stored.keyPem);
        const r = await run(clock);
        assert.equal(r.cert, null, `${what}: not served`);
        assert.equal(r.status.consecutiveFailures, 1, `${what}: an order was tried`);
        assert.match(r.status.lastError ?? '', /ACME directory is unreachable/, what);
        assert.equal(readFileSync(path.join(dir, 'acme', 'certificate.pem'), 'utf8'), stored.certPem, `${what}: the failed order changed nothing on disk`);
      }
      assert.ok(!logText.includes(good.keyPem.split('\n')[1]!), 'no key in the log');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
