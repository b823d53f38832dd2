import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, createSecureContext, type ConnectionOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { HSTS_VALUE } from '../http/hsts.js';
import { makeCa, makeLeaf, type TestCert } from './test-certs.test-util.js';
import { tlsRequest } from './test-https.test-util.js';

/** Whether a handshake with these client settings succeeds; the negotiated protocol and suite if so. */
function handshake(port: number, opts: ConnectionOptions): Promise<{ ok: true; protocol: string | null; cipher: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {
      const result = { ok: true as const, protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      socket.end();
      resolve(result);
    });
    socket.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

function plainRequest(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('built-in HTTPS (KEYNEST_TLS_CERT / KEYNEST_TLS_KEY)', () => {
  let dir: string;
  let ca: TestCert;
  let srv: TestServer;
  let port: number;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-tls-'));
    ca = makeCa(dir);
    const leaf = makeLeaf(dir, 'server', { ca, key: { type: 'rsa', bits: 2048 } });
    srv = await startServer({ env: { KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: leaf.keyFile } });
    port = Number(new URL(srv.url).port);
  });
  after(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API over HTTPS, with HSTS on every answer (success, refusal, not found)', async () => {
    assert.match(srv.url, /^https:\/\//);
    for (const [p, status] of [['/healthz', 200], ['/api/v1/me', 401], ['/no/such/route', 404]] as const) {
      const res = await tlsRequest(srv.url, { ca: ca.cert }, 'GET', p);
      assert.equal(res.status, status, p);
      assert.equal(res.headers.get('strict-transport-security'), HSTS_VALUE, p);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${p}: the baseline headers stay`);
    }
  });

  it('answers nothing over plain HTTP on the TLS port', async () => {
    await assert.rejects(plainRequest(port, 'GET', '/healthz'));
  });

  it('negotiates TLS 1.3, or TLS 1.2 with an ECDHE + AEAD suite', async () => {
    const best = await handshake(port, { ca: ca.cert });
    assert.deepEqual(best.ok && best.protocol, 'TLSv1.3');
    const tls12 = await handshake(port, { ca: ca.cert, maxVersion: 'TLSv1.2' });
    assert.ok(tls12.ok, JSON.stringify(tls12));
    assert.equal(tls12.protocol, 'TLSv1.2');
    assert.match(tls12.cipher, /^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });

  it('refuses TLS 1.0 and 1.1, CBC suites, RSA key exchange, 3DES and RC4 (even from a client willing to use them)', async () => {
    // SECLEVEL=0: this client would accept anything, so a refusal is the server's.
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      const res = await handshake(port, { ca: ca.cert, minVersion: version, maxVersion: version, ciphers: 'ALL:@SECLEVEL=0' });
      assert.equal(res.ok, false, `${version} was accepted`);
    }
    const tried: string[] = [];
    for (const cipher of ['ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384', 'AES128-GCM-SHA256', 'AES256-SHA', 'DES-CBC3-SHA', 'RC4-SHA', 'DHE-RSA-AES128-GCM-SHA256']) {
      // This machine's OpenSSL may not offer the oldest suites at all (RC4, 3DES): testssl.security.test.ts covers them.
      try {
        createSecureContext({ ciphers: `${cipher}:@SECLEVEL=0` });
      } catch {
        continue;
      }
      tried.push(cipher);
      const res = await handshake(port, { ca: ca.cert, maxVersion: 'TLSv1.2', ciphers: `${cipher}:@SECLEVEL=0` });
      assert.equal(res.ok, false, `${cipher} was accepted`);
    }
    assert.ok(tried.length >= 4, `only ${tried.join(', ')} could be offered`);
  });

  it('prefers its own suite order over the client\'s', async () => {
    // The client lists the 256-bit suite first; the server's order puts the 128-bit one first.
    const res = await handshake(port, { ca: ca.cert, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256' });
    assert.ok(res.ok);
    assert.equal(res.cipher, 'ECDHE-RSA-AES128-GCM-SHA256');
  });
});

describe('without TLS', () => {
  it('sends no Strict-Transport-Security (it would be ignored over HTTP, and wrong behind no TLS at all)', async () => {
    const srv = await startServer();
    try {
      const res = await fetch(`${srv.url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('strict-transport-security'), null);
    } finally {
      await srv.close();
    }
  });
});

describe('HTTP -> HTTPS redirect listener (KEYNEST_HTTP_REDIRECT_PORT)', () => {
  let dir: string;
  let ca: TestCert;
  let leaf: TestCert;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-tls-'));
    ca = makeCa(dir);
    leaf = makeLeaf(dir, 'server', { ca });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers every method and path with a 308 to the same host and path over HTTPS, and serves no API', async () => {
    const srv = await startServer({ env: { KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: leaf.keyFile, KEYNEST_HTTP_REDIRECT_PORT: '0' } });
    try {
      const httpsPort = Number(new URL(srv.url).port);
      const redirectUrl = await srv.keynest.startRedirect(httpsPort);
      assert.ok(redirectUrl);
      const redirectPort = Number(new URL(redirectUrl).port);
      assert.notEqual(redirectPort, httpsPort);
      for (const [method, p] of [['GET', '/api/v1/projects?x=1'], ['POST', '/api/v1/auth/login'], ['GET', '/healthz'], ['DELETE', '/api/v1/tokens/tok_1']]) {
        const res = await plainRequest(redirectPort, method!, p!, { host: `localhost:${redirectPort}`, authorization: 'Bearer kn_api_x' });
        assert.equal(res.status, 308, `${method} ${p}`);
        assert.equal(res.headers.location, `https://localhost:${httpsPort}${p}`);
        assert.equal(res.text, '', 'no body: nothing of the API over plain HTTP');
        assert.equal(res.headers['content-type'], undefined);
      }
      // The redirect leads somewhere real.
      const followed = await tlsRequest(`https://localhost:${httpsPort}`, { ca: ca.cert }, 'GET', '/healthz');
      assert.equal(followed.status, 200);
      // A Host header that is not a host name is not echoed into a Location.
      const junk = await plainRequest(redirectPort, 'GET', '/', { host: 'evil.example/<script>' });
      assert.equal(junk.status, 400);
      assert.equal(junk.headers.location, undefined);
    } finally {
      await srv.close();
    }
  });

  it('with an https KEYNEST_PUBLIC_URL, redirects there whatever Host the request names', async () => {
    const srv = await startServer({
      env: { KEYNEST_TLS_CERT: leaf.certFile, KEYNEST_TLS_KEY: leaf.keyFile, KEYNEST_HTTP_REDIRECT_PORT: '0', KEYNEST_PUBLIC_URL: 'https://vault.example.com' },
    });
    try {
      const redirectUrl = await srv.keynest.startRedirect(Number(new URL(srv.url).port));
      const res = await plainRequest(Number(new URL(redirectUrl!).port), 'GET', '/login?next=%2F', { host: 'attacker.example' });
      assert.equal(res.status, 308);
      assert.equal(res.headers.location, 'https://vault.example.com/login?next=%2F');
    } finally {
      await srv.close();
    }
  });
});
