import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { Http01Challenges, serveChallenge } from './acme/challenges.js';

/** A hostname as a Host header may carry it (name or IPv4), or a bracketed IPv6 literal. */
const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*\.?|\[[0-9a-f:.]+\])$/i;

/**
 * The plain-HTTP port when built-in TLS is on: every request gets a 308 to the same path over
 * HTTPS and nothing else, so no API call, cookie or token is ever answered in clear text (308, not
 * 301, keeps the method and body of a misdirected POST from being silently turned into a GET).
 * The target is KEYNEST_PUBLIC_URL's origin when it is https (a forged Host header then cannot
 * steer the redirect); otherwise the request's own host name on the HTTPS port.
 */
export class RedirectListener {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly target: { httpsPort: number | null },
  ) {}

  /**
   * `httpsPort` null: not known yet (ACME answers challenges here before the HTTPS listener
   * exists); until `setHttpsPort`, other requests get a 503. `challenges`: HTTP-01 answers served
   * on this port (KEYNEST_ACME_HTTP_PORT equal to it); the challenge path is never redirected.
   */
  static async start(opts: { host: string; port: number; httpsPort: number | null; publicUrl: string | undefined; log: Logger; challenges?: Http01Challenges }): Promise<RedirectListener> {
    const fixedOrigin = opts.publicUrl?.startsWith('https://') ? new URL(opts.publicUrl).origin : null;
    const target = { httpsPort: opts.httpsPort };
    const { challenges } = opts;
    const server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (challenges && Http01Challenges.isChallengePath(url)) {
        serveChallenge(challenges, req, res, opts.log, { connection: 'close' });
        return;
      }
      if (target.httpsPort === null) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'retry-after': '5', connection: 'close' }).end('Starting.\n');
        return;
      }
      const portPart = target.httpsPort === 443 ? '' : `:${target.httpsPort}`;
      const hostname = hostOf(req.headers.host);
      const origin = fixedOrigin ?? (hostname ? `https://${hostname}${portPart}` : null);
      const path = url.startsWith('/') ? url : '/';
      if (!origin) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('Use HTTPS.\n');
        return;
      }
      res.writeHead(308, { location: `${origin}${path}`, 'content-length': '0', 'cache-control': 'no-store', connection: 'close' }).end();
    });
    // Slow clients must not hold the port: a redirect needs one short request line.
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    opts.log.info({ url }, 'plain HTTP redirects to HTTPS on a listener of its own');
    return new RedirectListener(server, url, target);
  }

  /** The HTTPS port redirects point at, once the main listener has one. */
  setHttpsPort(port: number): void {
    this.target.httpsPort = port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d{1,5})?$/.exec(header.trim());
  const name = m?.[1];
  return name && HOST_NAME.test(name) ? name.toLowerCase() : null;
}
