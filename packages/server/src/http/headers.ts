import type { FastifyInstance } from 'fastify';

/**
 * Baseline response headers. Every API answer may carry a secret, so nothing is cached anywhere;
 * the rest deny framing, sniffing and referrers (issue 6 adds CSP, HSTS and the full set).
 */
const SECURITY_HEADERS = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
});

export function registerSecurityHeaders(app: FastifyInstance): void {
  // Callback style: on every answer, an async hook's extra promise is measurable.
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    done(null, payload);
  });
}
