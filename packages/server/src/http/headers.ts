import type { FastifyInstance } from 'fastify';

/**
 * Baseline response headers. Every API answer may carry a secret, so nothing is cached anywhere;
 * the rest deny framing, sniffing and referrers (issue 6 adds CSP, HSTS and the full set).
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    return payload;
  });
}
