import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The refresh token of a browser client. `__Host-` binds it to this host (no Domain, Path=/,
 * Secure), HttpOnly keeps it from scripts, SameSite=Strict keeps it off cross-site requests.
 * Browsers accept Secure cookies from http://localhost, so development works without TLS.
 */
export const REFRESH_COOKIE = '__Host-keynest_refresh';

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

export function setRefreshCookie(reply: FastifyReply, token: string, maxAgeS: number): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=${token}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; HttpOnly; Secure; SameSite=Strict`);
}

export function clearRefreshCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`);
}
