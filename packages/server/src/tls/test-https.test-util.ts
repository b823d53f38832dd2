import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Api, ApiAnswer } from '../test-support/api.js';
import { OWNER } from '../test-support/api.js';

/** How a test client connects: the CA it trusts, and the client certificate it presents, if any. */
export interface TlsClient {
  ca: string;
  cert?: string;
  key?: string;
}

export interface TlsAnswer extends ApiAnswer {
  /** SHA-256 (lower-case hex) of the certificate the server presented on this connection. */
  serverFingerprint: string;
}

/**
 * One request on a connection of its own (no agent: every call is a fresh handshake, so a reload
 * or a client certificate is seen at once). Rejects when the handshake or the connection fails.
 */
export function tlsRequest(url: string, client: TlsClient, method: string, path: string, opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<TlsAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { method, headers, agent: false, ca: client.ca, cert: client.cert, key: client.key, servername: 'localhost' }, (res) => {
      const socket = res.socket as TLSSocket;
      const serverFingerprint = socket.getPeerCertificate().fingerprint256.replaceAll(':', '').toLowerCase();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const type = res.headers['content-type'] ?? '';
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers: h, text, body: /json/.test(type) && text !== '' ? JSON.parse(text) : text, serverFingerprint });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The test-support `Api` shape over TLS, so the usual fixtures (createProject, putSecret…) work. */
export function tlsApi(url: string, client: TlsClient, token: string | null = null): Api {
  return (method, path, body, opts) => tlsRequest(url, client, method, path, { token, body, headers: opts?.headers });
}

/** First setup over TLS; the owner's access token. */
export async function setupOwnerOverTls(srv: { url: string; setupToken: string }, client: TlsClient): Promise<string> {
  const res = await tlsRequest(srv.url, client, 'POST', '/api/v1/setup', { body: { setupToken: srv.setupToken, ...OWNER } });
  assert.equal(res.status, 201, `setup failed: ${res.text}`);
  return res.body.accessToken as string;
}
