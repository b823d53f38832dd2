import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { constantTimeEqual, tokenDigest } from '../crypto/random.js';
import { SECURITY_HEADERS } from '../http/headers.js';
import type { Logger } from '../logger.js';
import type { Metrics } from './service.js';

/**
 * Whether a scrape may read the metrics: always when no token is set (a listener of its own, bound
 * where only the scraper reaches it), else only for `Authorization: Bearer <the token>`. The
 * presented token is hashed and the digests compared in constant time, so neither where it differs
 * nor its length shows in the time taken.
 */
export function scrapeAllowed(authorization: string | undefined, expectedDigest: string | undefined): boolean {
  if (expectedDigest === undefined) return true;
  const presented = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
  return constantTimeEqual(tokenDigest(presented), expectedDigest);
}

/**
 * `GET /metrics` on the main port, for the scraper's token only (KEYNEST_METRICS_TOKEN): no session
 * or API token opens it, whatever its role — the figures span every org.
 */
export function metricsRoute(app: FastifyInstance, deps: { metrics: Metrics; tokenDigest: string }): void {
  app.get('/metrics', {
    config: {
      access: {
        credential: "the Prometheus scraper's own token (KEYNEST_METRICS_TOKEN), not a user's or an API token: the figures span every organization",
        verify: (req) => scrapeAllowed(req.headers.authorization, deps.tokenDigest),
      },
    },
    schema: { hide: true },
    handler: async (_req, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.render()),
  });
}

/**
 * A listener of its own (KEYNEST_METRICS_PORT) that serves `/metrics` and nothing else, so the
 * metrics can be bound to an address only the scraper reaches while the API faces users.
 */
export class MetricsListener {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(metrics: Metrics, opts: { host: string; port: number; tokenDigest: string | undefined; log: Logger }): Promise<MetricsListener> {
    const server = createServer((req, res) => void answer(req, res, metrics, opts));
    // A scraper asks briefly; nothing here waits for a slow client.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    return new MetricsListener(server, `http://${host}:${port}/metrics`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}

async function answer(req: IncomingMessage, res: ServerResponse, metrics: Metrics, opts: { tokenDigest: string | undefined; log: Logger }): Promise<void> {
  const requestId = randomUUID();
  const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify({ error: { code, message }, requestId }));
  };
  if ((req.url ?? '').split('?')[0] !== '/metrics') return refuse(404, 'not_found', 'Only /metrics is served here');
  if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'method_not_allowed', 'Method not allowed', { allow: 'GET, HEAD' });
  if (!scrapeAllowed(req.headers.authorization, opts.tokenDigest)) {
    return refuse(401, 'unauthenticated', 'Send Authorization: Bearer <KEYNEST_METRICS_TOKEN>', { 'www-authenticate': 'Bearer' });
  }
  let body: string;
  try {
    body = await metrics.render();
  } catch (err) {
    opts.log.error({ err, requestId }, 'metrics scrape failed');
    return refuse(500, 'internal_error', `Internal error (request ${requestId})`);
  }
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': metrics.contentType });
  res.end(req.method === 'HEAD' ? undefined : body);
}
