import { createHmac, hkdfSync } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../crypto/random.js';
import { AppError } from '../errors.js';
import { CSRF_COOKIE, CSRF_HEADER, readCookie } from './cookies.js';

/**
 * Cross-site request forgery (docs/http-hardening.md#csrf). A browser attaches cookies to requests
 * another site makes it send; a bearer token it attaches to nothing. So every state-changing
 * request (not GET/HEAD/OPTIONS) that carries a KeyNest credential cookie must also show:
 * 1. that it comes from a KeyNest page: `Origin` (or, without one, the origin of `Referer`) is
 *    KEYNEST_PUBLIC_URL's origin or the request's own, and `Sec-Fetch-Site`, when sent, says
 *    same-origin;
 * 2. that the page could read KeyNest's cookies (double submit): `X-CSRF-Token` equals the
 *    `__Host-keynest_csrf` cookie;
 * 3. that the token is this session's: it is the HMAC of the session id under a key derived from
 *    the root key (so every instance of a cluster agrees, and a token from one session opens no
 *    other), compared in constant time.
 * Anything else is 403 csrf_failed, before authentication and before the body is read.
 *
 * Exempt: a request to an authenticated route that carries `Authorization` — the bearer token, not
 * the cookie, is then its credential (http/access.ts reads only the header), and no other site can
 * make a browser send that header without a CORS preflight it would not get.
 */
export class CsrfTokens {
  readonly #key: Buffer;

  constructor(rootKey: Buffer) {
    this.#key = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'keynest.csrf.v1', 32));
  }

  tokenFor(sessionId: string): string {
    return createHmac('sha256', this.#key).update(sessionId, 'utf8').digest('base64url');
  }

  isTokenOf(token: string, sessionId: string): boolean {
    return constantTimeEqual(token, this.tokenFor(sessionId));
  }
}

/**
 * A cookie that authenticates something. Each names the session its value belongs to, so that the
 * CSRF token can be checked against it; null when it belongs to none (then the request is refused:
 * there is nothing to check the token against). The refresh cookie is the only one today; a
 * browser session cookie joins this list and is protected with no other change.
 */
export interface CredentialCookie {
  name: string;
  sessionOf(value: string): Promise<string | null>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The CSRF tokens of sessions, for whoever sets credential cookies (http/cookies.ts). */
    csrf: CsrfTokens;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface CsrfDeps {
  tokens: CsrfTokens;
  cookies: readonly CredentialCookie[];
  /** KEYNEST_PUBLIC_URL: its origin is where KeyNest's pages come from. */
  publicUrl: string;
}

export function registerCsrfProtection(app: FastifyInstance, deps: CsrfDeps): void {
  app.decorate('csrf', deps.tokens);
  const publicOrigin = new URL(deps.publicUrl).origin;
  app.addHook('onRequest', async (req) => {
    if (SAFE_METHODS.has(req.method)) return;
    const presented = deps.cookies.flatMap((c) => {
      const value = readCookie(req, c.name);
      return value === null ? [] : [{ cookie: c, value }];
    });
    if (presented.length === 0) return;
    const access = req.routeOptions.config?.access;
    if (req.headers.authorization !== undefined && access !== undefined && !('public' in access)) return;
    const refusal = await refusalOf(req, presented, deps.tokens, publicOrigin);
    if (refusal) {
      req.log.info({ reason: refusal }, 'cross-site request forgery check failed');
      throw new AppError('csrf_failed', `Request refused: a request authenticated by a cookie needs a same-origin Origin and the ${CSRF_HEADER} header equal to the ${CSRF_COOKIE} cookie`);
    }
  });
}

async function refusalOf(req: FastifyRequest, presented: { cookie: CredentialCookie; value: string }[], tokens: CsrfTokens, publicOrigin: string): Promise<string | null> {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'sec-fetch-site';
  const origin = requestOrigin(req);
  if (origin === null || (origin !== publicOrigin && origin !== ownOrigin(req))) return 'origin';
  const header = req.headers[CSRF_HEADER];
  const cookie = readCookie(req, CSRF_COOKIE);
  if (typeof header !== 'string' || header === '' || cookie === null || !constantTimeEqual(header, cookie)) return 'token';
  for (const { cookie: credential, value } of presented) {
    const sessionId = await credential.sessionOf(value);
    if (sessionId === null || !tokens.isTokenOf(header, sessionId)) return 'session';
  }
  return null;
}

/** The origin the browser says the request comes from: `Origin`, else that of `Referer`. */
function requestOrigin(req: FastifyRequest): string | null {
  const origin = req.headers.origin;
  if (origin !== undefined) return origin === 'null' ? null : origin;
  const referer = req.headers.referer;
  if (referer === undefined) return null;
  try {
    return new URL(referer).origin;
  } catch {
    return null;
  }
}

/** This server as the browser addressed it (scheme and Host, or X-Forwarded-* behind a trusted proxy). */
function ownOrigin(req: FastifyRequest): string | null {
  try {
    return new URL(`${req.protocol}://${req.host}`).origin;
  } catch {
    return null;
  }
}
