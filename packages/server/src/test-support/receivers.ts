import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import type { TestServer } from '../testing.js';
import { api, setupOwner, type Api } from './api.js';
import { createProject, getValue, marker, putSecret } from './fixtures.js';

/**
 * For audit sink tests (and the CLI's): real receivers on 127.0.0.1 free ports — a webhook
 * endpoint that keeps every request, syslog listeners over UDP and TCP, each closed by its test —
 * and the activity and records a sink must stream.
 */
export interface WebhookDelivery {
  headers: http.IncomingHttpHeaders;
  /** The raw body, as the signature covers it. */
  body: string;
  /** The status this receiver answered. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  port: number;
  deliveries: WebhookDelivery[];
  /**
   * What to answer the n-th request (0-based): a status, or `hang` (never answer). Settable at
   * any time (a receiver that comes back).
   */
  respond: (n: number) => number | 'hang';
  /** The records of the answered-2xx deliveries, in the order received. */
  accepted(): Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(respond: (n: number) => number | 'hang' = () => 200): Promise<WebhookReceiver> {
  const deliveries: WebhookDelivery[] = [];
  const hanging = new Set<http.ServerResponse>();
  const receiver = { respond } as WebhookReceiver;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = receiver.respond(deliveries.length);
      const body = Buffer.concat(chunks).toString('utf8');
      if (answer === 'hang') {
        deliveries.push({ headers: req.headers, body, status: 0 });
        hanging.add(res);
        return;
      }
      deliveries.push({ headers: req.headers, body, status: answer });
      res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A receiver a failed test did not get to close must not keep the test process alive.
  server.unref();
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    deliveries,
    // Alerts posted to an org's webhooks carry no records.
    accepted: () => deliveries.filter((d) => d.status >= 200 && d.status < 300).flatMap((d) => (JSON.parse(d.body) as { records?: Record<string, unknown>[] }).records ?? []),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

export interface SyslogReceiver {
  port: number;
  /** Every message received (a datagram, or a frame taken out of the octet-counted stream). */
  messages: string[];
  close(): Promise<void>;
}

export async function startSyslogReceiver(protocol: 'udp' | 'tcp'): Promise<SyslogReceiver> {
  const messages: string[] = [];
  if (protocol === 'udp') {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (m) => messages.push(m.toString('utf8')));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.unref();
    return { port: socket.address().port, messages, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
  }
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // RFC 6587 octet counting: "LENGTH SP MESSAGE", LENGTH in bytes.
      for (;;) {
        const space = pending.indexOf(0x20);
        if (space === -1) return;
        const length = Number(pending.subarray(0, space).toString('ascii'));
        if (!Number.isInteger(length) || pending.length < space + 1 + length) return;
        messages.push(pending.subarray(space + 1, space + 1 + length).toString('utf8'));
        pending = pending.subarray(space + 1 + length);
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return {
    port: (server.address() as net.AddressInfo).port,
    messages,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `check` until it holds (for what arrives over the network after a drain), up to `ms`. */
export async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The ids of every audit record, in order: what an instance sink must have received. */
export async function storedAuditIds(srv: Pick<TestServer, 'db'>): Promise<number[]> {
  return (await srv.db.selectFrom('audit_events').select('id').orderBy('id').execute()).map((r) => Number(r.id));
}

/**
 * Some audited activity for a sink to stream: setup, a project, a write of `value` and its read.
 * Answers the owner's API and the value, so a test can look for the value where it must not be.
 */
export async function auditedActivity(srv: TestServer, label: string): Promise<{ owner: Api; value: string }> {
  const value = marker(label);
  const owner = api(srv, await setupOwner(srv));
  await createProject(owner, 'app');
  await putSecret(owner, 'app', 'development', 'DB_PASSWORD', value);
  assert.equal(await getValue(owner, 'app', 'development', 'DB_PASSWORD'), value);
  return { owner, value };
}
