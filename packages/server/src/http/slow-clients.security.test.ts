import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../config.js';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { request } from '../test-support/api.js';
import { connectionsCheckingIntervalMs } from './connections.js';

/**
 * Slow clients cannot hold the server (docs/http-hardening.md#timeouts). The server runs with
 * deadlines of a few hundred milliseconds; each test plays a slow or idle client and asserts what
 * it sees — a 408 with a stable code and a closed connection — never how long anything took.
 */
interface RawClient {
  socket: net.Socket;
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<string>;
  sent: () => number;
}

function rawClient(url: string): RawClient {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let got = '';
  let sent = 0;
  const write = socket.write.bind(socket);
  socket.write = ((chunk: string, ...rest: never[]) => {
    sent += chunk.length;
    return write(chunk, ...rest);
  }) as typeof socket.write;
  socket.on('data', (d) => (got += d.toString('latin1')));
  socket.on('error', () => {});
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve(got))), sent: () => sent };
}

/** Writes `text` one byte per tick of `everyMs` until done or the server closes the connection. */
function trickle(client: RawClient, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (client.socket.destroyed || i >= text.length) return clearInterval(timer);
    client.socket.write(text[i++]!);
  }, everyMs);
  client.socket.on('close', () => clearInterval(timer));
}

function errorCodeOf(answer: string): string {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code;
}

describe('slow and idle clients are cut off', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({
      env: { KEYNEST_HEADERS_TIMEOUT_MS: '300', KEYNEST_REQUEST_TIMEOUT_MS: '600', KEYNEST_KEEP_ALIVE_TIMEOUT_MS: '300' },
    });
  });
  after(() => srv.close());

  it('slowloris: headers sent a byte at a time are answered 408 request_timeout and the connection closed', async () => {
    const headers = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ${'s'.repeat(2000)}\r\n\r\n`;
    const client = rawClient(srv.url);
    trickle(client, headers, 20);
    const answer = await client.closed;
    assert.ok(client.sent() < headers.length, 'the server closed the connection before the headers were complete');
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.equal(errorCodeOf(answer), 'request_timeout');
  });

  it('a body trickled in after quick headers is cut off at the request deadline', async () => {
    const body = JSON.stringify({ email: 'slow@example.com', password: 'x'.repeat(3000) });
    const client = rawClient(srv.url);
    client.socket.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    trickle(client, body, 20);
    const answer = await client.closed;
    assert.ok(client.sent() < body.length, 'closed before the body was complete');
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal(errorCodeOf(answer), 'request_timeout');
  });

  it('many idle connections do not keep others from being served, and are closed themselves', async () => {
    const idle = Array.from({ length: 64 }, () => rawClient(srv.url));
    await Promise.all(idle.map((c) => new Promise((resolve) => c.socket.once('connect', resolve))));
    const res = await request(srv, null, 'GET', '/healthz');
    assert.equal(res.status, 200, 'served while 64 connections sit idle');
    const answers = await Promise.all(idle.map((c) => c.closed));
    for (const a of answers) assert.ok(a === '' || /^HTTP\/1\.1 408 /.test(a), a.slice(0, 40));
    assert.equal((await request(srv, null, 'GET', '/healthz')).status, 200);
  });

  it('a kept-alive connection left idle after its answer is closed', async () => {
    const client = rawClient(srv.url);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const answer = await client.closed;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /\r\nkeep-alive: timeout=\d+\r\n/i, 'the answer told the client how long it may stay');
  });
});

describe('timeout settings', () => {
  it('have sane defaults, take overrides, and refuse a headers deadline beyond the request deadline', () => {
    const t = loadConfig({}).httpTimeouts;
    assert.deepEqual(t, { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, socketIdleMs: 60_000 });
    assert.equal(connectionsCheckingIntervalMs(t), 1000);
    assert.equal(connectionsCheckingIntervalMs({ ...t, headersMs: 300 }), 75);
    const custom = loadConfig({ KEYNEST_HEADERS_TIMEOUT_MS: '5000', KEYNEST_REQUEST_TIMEOUT_MS: '20000', KEYNEST_KEEP_ALIVE_TIMEOUT_MS: '65000', KEYNEST_SOCKET_IDLE_TIMEOUT_MS: '120000' }).httpTimeouts;
    assert.deepEqual(custom, { headersMs: 5000, requestMs: 20_000, keepAliveMs: 65_000, socketIdleMs: 120_000 });
    assert.throws(() => loadConfig({ KEYNEST_HEADERS_TIMEOUT_MS: '40000' }), /KEYNEST_HEADERS_TIMEOUT_MS: must not exceed KEYNEST_REQUEST_TIMEOUT_MS/);
    assert.throws(() => loadConfig({ KEYNEST_REQUEST_TIMEOUT_MS: '0' }), /KEYNEST_REQUEST_TIMEOUT_MS: must be between/);
    assert.throws(() => loadConfig({ KEYNEST_KEEP_ALIVE_TIMEOUT_MS: '5s' }), /KEYNEST_KEEP_ALIVE_TIMEOUT_MS: must be a whole number/);
  });
});
