import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The refresh token of a browser client. `__Host-` binds it to this host (no Domain, Path=/,
 * Secure), HttpOnly keeps it from scripts, SameSite=Strict keeps it off cross-site requests.
 * Browsers accept Secure cookies from http://localhost, so development works without TLS.
 */
export const REFRESH_COOKIE = '__Host-keynest_refresh';

/**
 * The CSRF token of the session whose credential cookies the browser holds (http/csrf.ts). Not
 * HttpOnly: the page reads it and echoes it in X-CSRF-Token, which a page on another origin cannot
 * do. It is no credential by itself: it is useless without the session's cookies.
 */
export const CSRF_COOKIE = '__Host-keynest_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** One cookie's value from the request, or null. Only our own cookie names are ever asked for. */
export function readCookie(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/**
 * Sets the refresh cookie and, beside it, the CSRF cookie of its session: every state-changing
 * request the refresh cookie authenticates must echo the latter (http/csrf.ts).
 */
export function setRefreshCookie(reply: FastifyReply, token: string, maxAgeS: number, sessionId: string): void {
  const maxAge = Math.max(0, Math.floor(maxAgeS));
  reply.header('set-cookie', `${REFRESH_COOKIE}=${token}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`);
  reply.header('set-cookie', `${CSRF_COOKIE}=${reply.server.csrf.tokenFor(sessionId)}; Path=/; Max-Age=${maxAge}; Secure; SameSite=Strict`);
}

export function clearRefreshCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`);
  reply.header('set-cookie', `${CSRF_COOKIE}=; Path=/; Max-Age=0; Secure; SameSite=Strict`);
}
