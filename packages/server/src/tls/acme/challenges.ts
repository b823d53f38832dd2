import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../../logger.js';

/** RFC 8555 §8.3: the CA fetches http://<domain>/.well-known/acme-challenge/<token> on port 80. */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 §8.1: a token is base64url, at least 128 bits; anything else is not ours to answer. */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

/**
 * The HTTP-01 answers of the orders in flight: token → key authorization. A key authorization is
 * public by design (the CA fetches it over plain HTTP), but it is served only while its order is
 * pending, and only for the exact token.
 */
export class Http01Challenges {
  private readonly answers = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.answers.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.answers.delete(token);
  }

  /** The key authorization to answer for this request path, or null (the caller serves a 404 or redirects). */
  respond(urlPath: string): string | null {
    const pathOnly = urlPath.split('?')[0] ?? '';
    if (!pathOnly.startsWith(ACME_CHALLENGE_PREFIX)) return null;
    const token = pathOnly.slice(ACME_CHALLENGE_PREFIX.length);
    if (!TOKEN.test(token)) return null;
    return this.answers.get(token) ?? null;
  }

  /** True when the path is under the challenge prefix: such requests are never redirected to HTTPS. */
  static isChallengePath(urlPath: string): boolean {
    return urlPath.startsWith(ACME_CHALLENGE_PREFIX);
  }
}

/**
 * Answers one request with its HTTP-01 key authorization (GET or HEAD), else a 404. `headers` are
 * added to either answer (the redirect listener closes its connections).
 */
export function serveChallenge(challenges: Http01Challenges, req: IncomingMessage, res: ServerResponse, log: Logger, headers: Record<string, string> = {}): void {
  const answer = req.method === 'GET' || req.method === 'HEAD' ? challenges.respond(req.url ?? '/') : null;
  if (answer === null) {
    res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store', ...headers }).end('not found\n');
    return;
  }
  log.info({ path: (req.url ?? '').split('?')[0] }, 'acme: answered an HTTP-01 challenge');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store', ...headers });
  res.end(req.method === 'HEAD' ? undefined : answer);
}

/**
 * A plain-HTTP listener that serves nothing but the HTTP-01 answers (404 for everything else), for
 * deployments without the HTTP→HTTPS redirect listener. Where that listener exists, it serves the
 * challenge paths itself (`serveChallenge`) before redirecting.
 */
export function createChallengeServer(challenges: Http01Challenges, log: Logger): Server {
  const server = createServer((req, res) => serveChallenge(challenges, req, res, log));
  // Only short GETs arrive here: a slow client gets no time to hold the socket.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return server;
}
