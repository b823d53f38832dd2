import assert from 'node:assert/strict';
import type { TestServer } from '../testing.js';

/**
 * The HTTP surface as a test sees it: real requests over the loopback socket (so `req.ip`, headers
 * and the body parser behave as in production), answers parsed as JSON when they are JSON.
 */
export interface ApiAnswer {
  status: number;
  /** Parsed JSON (of many shapes: tests assert on it field by field), or the text when not JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Headers;
  /** The raw answer text, for grepping it for values that must not be there. */
  text: string;
}

export interface RequestOptions {
  /** Sent as is instead of JSON.stringify(body) (bad JSON, oversized bodies). */
  rawBody?: string;
  /** Overrides the content type (default application/json when there is a body). */
  contentType?: string;
  headers?: Record<string, string>;
}

export type Api = (method: string, path: string, body?: unknown, opts?: RequestOptions) => Promise<ApiAnswer>;

export const OWNER = { email: 'owner@example.com', password: 'Vault-Tiger-Marble-2041', orgName: 'Acme' } as const;

/** One request; `token` null sends no Authorization header. */
export async function request(
  srv: Pick<TestServer, 'url'>,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (opts.rawBody !== undefined) payload = opts.rawBody;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  else if (opts.contentType) headers['content-type'] = opts.contentType;
  const res = await fetch(`${srv.url}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
  return { status: res.status, body: parsed, headers: res.headers, text };
}

/** A request function bound to one server and one caller (`token` omitted or null: anonymous). */
export function api(srv: Pick<TestServer, 'url'>, token: string | null = null): Api {
  return (method, path, body, opts) => request(srv, token, method, path, body, opts);
}

/** Completes first setup with the server's one-time token; returns the owner's session token. */
export async function setupOwner(srv: Pick<TestServer, 'url' | 'setupToken'>, owner: { email: string; password: string; orgName: string } = OWNER): Promise<string> {
  const res = await request(srv, null, 'POST', '/api/v1/setup', { setupToken: srv.setupToken, ...owner });
  assert.equal(res.status, 201, `setup failed: ${res.text}`);
  return res.body.session.token as string;
}

/**
 * Asserts an error answer: its status, its stable code, and the documented shape
 * `{error: {code, message, details?}, requestId}` with nothing else in it.
 */
export function assertError(res: ApiAnswer, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(res.body?.error?.code, code, `expected code ${code}: ${res.text}`);
  assert.equal(typeof res.body.error.message, 'string');
  assert.equal(typeof res.body.requestId, 'string');
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'requestId']);
  for (const k of Object.keys(res.body.error)) assert.ok(['code', 'message', 'details'].includes(k), `unexpected error field ${k}`);
}
