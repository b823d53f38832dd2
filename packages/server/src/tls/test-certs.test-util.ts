import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Test certificates made by Debian's openssl in a test's temp directory (never in the repo): a CA,
 * server leaves it signs (or that sign themselves), client certificates for mutual TLS.
 */
export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** SHA-256 of the DER, lower-case hex (as KeyNest binds and logs it). */
  fingerprint: string;
}

export type KeySpec = { type: 'ec'; curve?: 'P-256' | 'P-384' | 'prime192v1' } | { type: 'rsa'; bits: number };

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKeyArgs(spec: KeySpec): string[] {
  return spec.type === 'rsa' ? ['-newkey', `rsa:${spec.bits}`] : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${spec.curve ?? 'P-256'}`];
}

function loaded(dir: string, name: string): TestCert {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const cert = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, cert, key: readFileSync(keyFile, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256.replaceAll(':', '').toLowerCase() };
}

export function makeCa(dir: string, name = 'ca', cn = 'KeyNest Test CA'): TestCert {
  openssl(
    ['req', '-x509', ...newKeyArgs({ type: 'ec' }), '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return loaded(dir, name);
}

/** A leaf for `localhost`/127.0.0.1, signed by `ca` (or by itself without one). */
export function makeLeaf(dir: string, name: string, opts: { ca?: TestCert; key?: KeySpec; cn?: string; usage?: 'server' | 'client'; days?: number } = {}): TestCert {
  const cn = opts.cn ?? 'localhost';
  const usage = opts.usage === 'client' ? 'clientAuth' : 'serverAuth';
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=DNS:${cn},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
  const key = newKeyArgs(opts.key ?? { type: 'ec' });
  const days = String(opts.days ?? 2);
  if (!opts.ca) {
    openssl(['req', '-x509', ...key, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', days, '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`], dir);
    return loaded(dir, name);
  }
  openssl(['req', '-new', ...key, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', opts.ca.certFile, '-CAkey', opts.ca.keyFile, '-CAcreateserial', '-days', days, '-out', `${name}.crt`, '-extfile', ext], dir);
  return loaded(dir, name);
}
