import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny round-robin HTTP load balancer for tests, doing what a real one does and nothing more:
 * keep-alive connections to each backend; no health checks; a request that no backend started
 * answering (connection refused, or reset before any answer: a backend closing) is retried on the
 * next backend, as nginx's `proxy_next_upstream error` or HAProxy's `retry-on conn-failure` would.
 * Meant for idempotent requests (the tests send GETs). An answer, whatever its status, is passed on.
 */
export interface LoadBalancer {
  url: string;
  /** Answers passed on, by backend port. */
  answered: Map<number, number>;
  /** Answers that asked to close the connection (`Connection: close`), by backend port. */
  closing: Map<number, number>;
  /** Attempts retried on another backend, by error code. */
  retried: Map<string, number>;
  close(): Promise<void>;
}

const RETRIABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export async function startLoadBalancer(backendPorts: number[]): Promise<LoadBalancer> {
  const agents = new Map(backendPorts.map((p) => [p, new http.Agent({ keepAlive: true, maxSockets: 32 })]));
  const answered = new Map<number, number>();
  const closing = new Map<number, number>();
  const retried = new Map<string, number>();
  const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);
  let next = 0;

  const attempt = (port: number, req: http.IncomingMessage, body: Buffer) =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const out = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: agents.get(port) }, resolve);
      out.on('error', reject);
      out.end(body);
    });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const first = next++;
      for (let i = 0; i < backendPorts.length * 3; i++) {
        const port = backendPorts[(first + i) % backendPorts.length]!;
        try {
          const answer = await attempt(port, req, body);
          bump(answered, port);
          if (String(answer.headers.connection).toLowerCase() === 'close') bump(closing, port);
          const headers = { ...answer.headers };
          // Hop-by-hop: the client's connection to us is not the backend's to us.
          delete headers.connection;
          delete headers['keep-alive'];
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
          return;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          if (!RETRIABLE.has(code) && (err as Error).message !== 'socket hang up') break;
          bump(retried, code);
          // Both refused at once (one restarting, the other not yet listening): try again shortly.
          if (i % backendPorts.length === backendPorts.length - 1) await new Promise((r) => setTimeout(r, 50));
        }
      }
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('no backend answered');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answered,
    closing,
    retried,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const a of agents.values()) a.destroy();
    },
  };
}
