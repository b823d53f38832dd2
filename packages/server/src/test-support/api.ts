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

/**
 * A signed-in user as a client keeps them: the current access token and the refresh token. Like
 * the SDK, a request refused as unauthenticated is retried once after a refresh, so tests that move
 * the clock past the access token's few minutes keep working while the session lives.
 */
export class SignedInSession {
  constructor(
    private readonly srv: Pick<TestServer, 'url'>,
    public accessToken: string,
    public refreshToken: string,
  ) {}

  static of(srv: Pick<TestServer, 'url'>, answer: ApiAnswer): SignedInSession {
    assert.equal(typeof answer.body?.accessToken, 'string', `no access token in ${answer.text}`);
    return new SignedInSession(srv, answer.body.accessToken, answer.body.refreshToken);
  }

  /** Exchanges the refresh token; false when the session is over (revoked, expired, idle). */
  async renew(): Promise<boolean> {
    const res = await request(this.srv, null, 'POST', '/api/v1/auth/refresh', { refreshToken: this.refreshToken });
    if (res.status !== 200) return false;
    this.accessToken = res.body.accessToken;
    this.refreshToken = res.body.refreshToken;
    return true;
  }
}

/** Who a request is made as: nobody (null), a fixed bearer token, or a signed-in session. */
export type Credential = string | SignedInSession | null;

/** One request; `token` null sends no Authorization header. */
export async function request(
  srv: Pick<TestServer, 'url'>,
  token: Credential,
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<ApiAnswer> {
  if (token instanceof SignedInSession) {
    const first = await request(srv, token.accessToken, method, path, body, opts);
    if (first.status !== 401 || first.body?.error?.code !== 'unauthenticated' || !(await token.renew())) return first;
    return request(srv, token.accessToken, method, path, body, opts);
  }
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
  if (/^application\/([a-z.+-]*\+)?json\b/.test(res.headers.get('content-type') ?? '') && text !== '') parsed = JSON.parse(text);
  return { status: res.status, body: parsed, headers: res.headers, text };
}

/** A request function bound to one server and one caller (`token` omitted or null: anonymous). */
export function api(srv: Pick<TestServer, 'url'>, token: Credential = null): Api {
  return (method, path, body, opts) => request(srv, token, method, path, body, opts);
}

/** Completes first setup with the server's one-time token; returns the owner's signed-in session. */
export async function setupOwner(srv: Pick<TestServer, 'url' | 'setupToken'>, owner: { email: string; password: string; orgName: string } = OWNER): Promise<SignedInSession> {
  const res = await request(srv, null, 'POST', '/api/v1/setup', { setupToken: srv.setupToken, ...owner });
  assert.equal(res.status, 201, `setup failed: ${res.text}`);
  return SignedInSession.of(srv, res);
}

/** Signs in; returns the signed-in session (asserting success). */
export async function signIn(srv: Pick<TestServer, 'url'>, body: Record<string, unknown>): Promise<SignedInSession> {
  const res = await request(srv, null, 'POST', '/api/v1/auth/login', body);
  assert.equal(res.status, 200, `sign-in failed: ${res.text}`);
  return SignedInSession.of(srv, res);
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
