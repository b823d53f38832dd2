import type { FastifyInstance } from 'fastify';

/**
 * Two years, subdomains included: once a browser has seen KeyNest over HTTPS it never tries plain
 * HTTP again (no SSL-stripping on the next visit). Sent only when KeyNest serves TLS itself; behind
 * a TLS-terminating proxy the proxy sends it (docs/tls.md).
 */
export const HSTS_VALUE = 'max-age=63072000; includeSubDomains';

export function registerHsts(app: FastifyInstance): void {
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('strict-transport-security', HSTS_VALUE);
    done(null, payload);
  });
}
