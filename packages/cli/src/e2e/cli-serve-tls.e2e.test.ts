import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { BIN, exitOf, type CliResult } from './harness.test-util.js';

const ROOT_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => 200 - i)).toString('base64');

function tempDir(t: import('node:test').TestContext): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'keynest-serve-tls-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** A CA and a leaf for localhost it signs, made by openssl in `dir` (never in the repo). */
function certificates(dir: string, leaves: string[]): { ca: string; leaf: (name: string) => { cert: string; key: string; fingerprint: string } } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Serve Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  for (const name of leaves) {
    run(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost']);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', 'leaf.ext']);
  }
  return {
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    leaf: (name) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), fingerprint: new X509Certificate(readFileSync(join(dir, `${name}.crt`))).fingerprint256 }),
  };
}

function serve(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

function get(url: string, ca: string): Promise<{ status: number; hsts: string | undefined; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] as string | undefined, fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('production mode refuses to start on unsafe settings: one line on stderr, exit 78, nothing created', async (t) => {
  const root = tempDir(t);
  const certs = certificates(root, ['server']);
  const leaf = certs.leaf('server');
  const base = { PATH: process.env.PATH, HOME: root, KEYNEST_MODE: 'production', KEYNEST_LOG_LEVEL: 'info' };
  const cases: [label: string, env: Record<string, string>, reason: RegExp][] = [
    ['no TLS and no proxy', { KEYNEST_ROOT_KEY: ROOT_KEY, KEYNEST_PUBLIC_URL: 'https://vault.example.com' }, /no TLS; set KEYNEST_TLS_CERT and KEYNEST_TLS_KEY, or KEYNEST_TRUST_PROXY/],
    ['no root key', { KEYNEST_TLS_CERT: leaf.cert, KEYNEST_TLS_KEY: leaf.key, KEYNEST_PUBLIC_URL: 'https://vault.example.com' }, /no root key/],
    ['the default public URL', { KEYNEST_TLS_CERT: leaf.cert, KEYNEST_TLS_KEY: leaf.key, KEYNEST_ROOT_KEY: ROOT_KEY }, /KEYNEST_PUBLIC_URL must be set/],
  ];
  for (const [label, env, reason] of cases) {
    const dataDir = join(root, `data-${label.replaceAll(' ', '-')}`);
    const result = await serve(['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], { ...base, ...env });
    assert.equal(result.code, 78, `${label}: exit ${result.code}, stderr ${result.stderr}`);
    assert.equal(result.stdout, '', `${label}: no setup token, no log`);
    assert.match(result.stderr, /^keynest: invalid setting KEYNEST_MODE: production mode refuses to start: [^\n]+\n$/, label);
    assert.match(result.stderr, reason, label);
    assert.equal(existsSync(join(dataDir, 'root.key')), false, `${label}: no root key was made up`);
  }
});

test('keynest serve with TLS in production mode: HTTPS with HSTS, the redirect port, SIGHUP reloads the certificate', async (t) => {
  const root = tempDir(t);
  const certs = certificates(root, ['first', 'second']);
  const live = { cert: join(root, 'live.crt'), key: join(root, 'live.key') };
  copyFileSync(certs.leaf('first').cert, live.cert);
  copyFileSync(certs.leaf('first').key, live.key);
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(root, 'data')], {
    env: {
      PATH: process.env.PATH,
      HOME: root,
      KEYNEST_LOG_LEVEL: 'info',
      KEYNEST_MODE: 'production',
      KEYNEST_TLS_CERT: live.cert,
      KEYNEST_TLS_KEY: live.key,
      KEYNEST_ROOT_KEY: ROOT_KEY,
      KEYNEST_PUBLIC_URL: 'https://localhost',
      KEYNEST_HTTP_REDIRECT_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  const urls = await new Promise<{ https: string; redirect: string }>((resolve, reject) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const https = /"url":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1];
      const redirect = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*redirects to HTTPS/.exec(output)?.[1];
      if (https && redirect) resolve({ https, redirect });
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${output}`)));
  });
  const first = await get(`${urls.https}/healthz`, certs.ca);
  assert.equal(first.status, 200);
  assert.equal(first.hsts, 'max-age=63072000; includeSubDomains');
  assert.equal(first.fingerprint, certs.leaf('first').fingerprint);

  const redirected = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = httpRequest(`${urls.redirect}/api/v1/projects`, { agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(redirected, { status: 308, location: 'https://localhost/api/v1/projects' });

  // certbot's deploy hook habit: new files, then SIGHUP. The process lives on and new connections get the new certificate.
  copyFileSync(certs.leaf('second').key, live.key);
  copyFileSync(certs.leaf('second').cert, live.cert);
  child.kill('SIGHUP');
  let seen = first.fingerprint;
  for (let i = 0; i < 200 && seen !== certs.leaf('second').fingerprint; i++) {
    await delay(50);
    seen = (await get(`${urls.https}/healthz`, certs.ca)).fingerprint;
  }
  assert.equal(seen, certs.leaf('second').fingerprint);
  assert.equal(child.exitCode, null, 'SIGHUP did not end the process');
  assert.match(output, /TLS certificate reloaded/);

  child.kill('SIGTERM');
  assert.deepEqual(await exitOf(child), { code: 0, signal: null });
});
