import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * Cross-origin access (docs/http-hardening.md#cors). Closed by default: no answer carries
 * Access-Control-Allow-Origin and preflights are refused, so a page on another origin can neither
 * read an answer nor send a request that needs a preflight (anything with Authorization or a JSON
 * body). With KEYNEST_CORS_ORIGINS, pages on exactly those origins may call the API with a bearer
 * token. Credentials (cookies) are never allowed cross-origin: Access-Control-Allow-Credentials is
 * never sent, so the browser neither sends KeyNest's cookies on such a request nor shows the answer
 * to one that did; the cookies serve the same-origin UI only.
 */
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** Everything the API reads from a request besides the CORS-safelisted headers. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, X-CSRF-Token';
/** Answer headers a page may read beyond the safelisted ones (rate limits, downloads). */
const EXPOSED_HEADERS = 'Retry-After, RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Content-Disposition';
/** How long a browser may reuse a preflight's answer. */
export const CORS_MAX_AGE_S = 600;

export function registerCors(app: FastifyInstance, opts: { allowedOrigins: readonly string[] }): void {
  const allowed = new Set(opts.allowedOrigins);
  const listed = (origin: string | undefined): origin is string => origin !== undefined && allowed.has(origin);

  // A preflight is answered here, before any route (there are no OPTIONS routes): 204 with the
  // allowances for a listed origin, 403 without any for every other.
  app.addHook('onRequest', (req, reply, done) => {
    if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return done();
    const origin = req.headers.origin;
    if (!listed(origin)) return done(new AppError('cors_origin_not_allowed', 'Cross-origin requests from this origin are not allowed (KEYNEST_CORS_ORIGINS)'));
    void reply
      .code(204)
      .headers({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': ALLOWED_METHODS,
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': String(CORS_MAX_AGE_S),
      })
      .send();
  });

  app.addHook('onSend', (req, reply, payload, done) => {
    // Whether an answer allows an origin depends on the Origin header: shared caches must know.
    if (allowed.size > 0) void reply.header('vary', varyWith(reply.getHeader('vary'), req.method === 'OPTIONS' ? ['Origin', 'Access-Control-Request-Method', 'Access-Control-Request-Headers'] : ['Origin']));
    const origin = req.headers.origin;
    if (req.method !== 'OPTIONS' && listed(origin)) {
      void reply.header('access-control-allow-origin', origin);
      void reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    }
    done(null, payload);
  });
}

function varyWith(current: unknown, add: string[]): string {
  const have = typeof current === 'string' ? current.split(',').map((s) => s.trim()).filter(Boolean) : [];
  for (const h of add) if (!have.some((x) => x.toLowerCase() === h.toLowerCase())) have.push(h);
  return have.join(', ');
}
