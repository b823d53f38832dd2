import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { makeCa, makeLeaf } from './test-certs.test-util.js';

/**
 * Debian's testssl.sh against the built-in TLS on loopback: no weak protocol, cipher or known
 * vulnerability. Certificate findings are left out (-S is not run): a test CA is untrusted and
 * short-lived by design, and production mode checks the real certificate. Offline: no DNS
 * (--nodns none; the target is an address), no OCSP/CRL fetches (--phone-out is off by default).
 * Without testssl.sh the test fails in CI (CI=true: .ci/run installs it) and is skipped, loudly, elsewhere.
 */
function findTestssl(): string | null {
  for (const name of ['testssl', 'testssl.sh']) {
    try {
      execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'pipe' });
      return name;
    } catch {
      // not this name
    }
  }
  return null;
}

const TESTSSL = findTestssl();
const MISSING = 'testssl.sh is not installed (apt-get install testssl.sh); .ci/run installs it';

interface Finding {
  id: string;
  severity: 'OK' | 'INFO' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL' | 'WARN' | 'FATAL' | 'DEBUG';
  finding: string;
}

/** Checks every vulnerability test ran and said "not vulnerable" (OK), not just that nothing was bad. */
const VULNERABILITIES = ['heartbleed', 'CCS', 'ticketbleed', 'ROBOT', 'secure_renego', 'secure_client_renego', 'CRIME_TLS', 'BREACH', 'POODLE_SSL', 'fallback_SCSV', 'SWEET32', 'FREAK', 'DROWN', 'LOGJAM', 'BEAST', 'LUCKY13', 'RC4'];

describe('testssl.sh against the built-in TLS', { skip: !TESTSSL && process.env.CI !== 'true' ? MISSING : false }, () => {
  let dir: string;
  let srv: TestServer;
  let findings: Finding[];

  before(async () => {
    assert.ok(TESTSSL, MISSING);
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-testssl-'));
    const ca = makeCa(dir);
    // RSA: the key type with the most to get wrong (RSA key exchange, ROBOT, DROWN).
    const leaf = makeLeaf(dir, 'server', { ca, key: { type: 'rsa', bits: 2048 } });
    srv = await startServer({ env: { KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: leaf.keyFile } });
    const jsonFile = path.join(dir, 'testssl.json');
    const args = ['--quiet', '--color', '0', '--warnings', 'off', '--nodns', 'none', '--connect-timeout', '10', '--openssl-timeout', '10',
      '--protocols', '--std', '--fs', '--server-preference', '--vulnerable', '--headers', '--jsonfile', jsonFile, srv.url];
    const output = await new Promise<string>((resolve) => {
      // testssl.sh's exit status counts findings of any kind: the JSON is what is judged.
      execFile(TESTSSL!, args, { maxBuffer: 64 * 1024 * 1024 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
    });
    assert.ok(existsSync(jsonFile), `testssl.sh wrote no JSON:\n${output.slice(-2000)}`);
    findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[];
  });
  after(async () => {
    await srv?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = (id: string) => findings.find((f) => f.id === id);

  it('ran to the end without a scan problem', () => {
    assert.ok(findings.length > 50, `only ${findings.length} findings`);
    const problems = findings.filter((f) => f.severity === 'WARN' || f.severity === 'FATAL' || f.id === 'scanProblem');
    assert.deepEqual(problems, []);
  });

  it('finds nothing of low, medium, high or critical severity', () => {
    assert.deepEqual(findings.filter((f) => ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(f.severity)), []);
  });

  it('offers TLS 1.2 and 1.3 only', () => {
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) assert.match(get(id)?.finding ?? 'missing', /^not offered/, id);
    assert.match(get('TLS1_2')?.finding ?? 'missing', /^offered/);
    assert.match(get('TLS1_3')?.finding ?? 'missing', /^offered/);
  });

  it('offers no NULL, anonymous, export, low, 3DES/IDEA or CBC-obsolete cipher category', () => {
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA', 'cipherlist_AVERAGE']) {
      assert.match(get(id)?.finding ?? 'missing', /not offered/, id);
    }
  });

  it('every vulnerability check ran and found the server not vulnerable', () => {
    for (const id of VULNERABILITIES) {
      const f = get(id);
      assert.ok(f, `${id} was not checked`);
      assert.equal(f.severity, 'OK', `${id}: ${f.finding}`);
    }
  });

  it('sees forward secrecy and HSTS', () => {
    // testssl 3.0 names forward secrecy PFS; later versions FS.
    const fs = get('FS') ?? get('PFS');
    assert.equal(fs?.severity, 'OK', fs?.finding);
    for (const id of ['HSTS_time', 'HSTS_subdomains']) assert.equal(get(id)?.severity, 'OK', `${id}: ${get(id)?.finding}`);
  });
});
