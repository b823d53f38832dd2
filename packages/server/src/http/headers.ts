import type { FastifyInstance } from 'fastify';

/**
 * The response headers of every answer (docs/http-hardening.md). The server serves JSON only (no
 * HTML, no Swagger UI), so the content security policy allows nothing at all: a response that a
 * browser somehow renders can run no script, load nothing, be framed nowhere and post no form.
 * A future web UI gets its own policy with nonces or hashes, never `unsafe-inline`.
 *
 * Every API answer may carry a secret, so nothing is cached anywhere (`no-store`). HSTS is not
 * here: it belongs to the TLS listener, which alone knows that the answer goes out over TLS.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Powerful features no KeyNest page needs; denied to the page and to anything it embeds.
  'permissions-policy':
    'accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()',
  // No window of another origin keeps a handle on ours; no other origin embeds our answers
  // (`no-cors` loads: <script>, <img>). CORS fetches are not affected by CORP.
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-permitted-cross-domain-policies': 'none',
});

export function registerSecurityHeaders(app: FastifyInstance): void {
  // Callback style: on every answer, an async hook's extra promise is measurable.
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    // Nothing says what runs here; Fastify sets neither, but a plugin or a proxy-facing default might.
    reply.removeHeader('x-powered-by');
    reply.removeHeader('server');
    done(null, payload);
  });
}
