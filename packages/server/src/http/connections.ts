import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ErrorCode } from '../errors.js';
import { SECURITY_HEADERS } from './headers.js';

/**
 * How long a client may hold a connection (docs/http-hardening.md#timeouts). Each bound stops one
 * way a slow client ties up the server:
 * - `headersMs`: the request line and headers must arrive within it (slowloris, and a connection
 *   opened and left silent); then 408 request_timeout and the connection is closed;
 * - `requestMs`: the whole request, body included (a body trickled in byte by byte);
 * - `keepAliveMs`: an idle connection between two requests is closed after it;
 * - `socketIdleMs`: a connection on which nothing moves at all (in either direction) is closed.
 */
export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  socketIdleMs: number;
}

/**
 * Node checks the headers and request deadlines of open connections on an interval (30 s by
 * default), so a 10 s headers timeout could hold a connection up to 40 s. A quarter of the
 * shortest deadline, capped at a second, keeps the overshoot small at the cost of a cheap walk
 * over the open connections.
 */
export function connectionsCheckingIntervalMs(t: HttpTimeouts): number {
  return Math.max(10, Math.min(1000, Math.floor(Math.min(t.headersMs, t.requestMs) / 4)));
}

/**
 * Sets the deadlines on the listening server (HTTP or HTTPS alike: both are node:http servers).
 * Must run before `listen`: Node starts its connection checker when the server starts listening.
 * Fastify's own `requestTimeout`, `keepAliveTimeout` and `connectionTimeout` options are set from
 * the same values in app.ts; this adds what Fastify has no option for.
 */
export function applyServerTimeouts(server: Server, t: HttpTimeouts): void {
  server.headersTimeout = t.headersMs;
  server.requestTimeout = t.requestMs;
  server.keepAliveTimeout = t.keepAliveMs;
  server.setTimeout(t.socketIdleMs);
  // A documented server option that @types/node only types for createServer; Node reads the
  // property when listening starts.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = connectionsCheckingIntervalMs(t);
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before there is a request (a
 * deadline passed, headers too large, bytes that are not HTTP) gets the same shape as every other
 * error — a stable code and the security headers — instead of Fastify's bare default.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has no one to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, message] = clientErrorAnswer(err.code);
  this.log.debug({ code: err.code, status }, 'client error before a request');
  if (socket.writable) {
    const body = JSON.stringify({ error: { code, message }, requestId: randomUUID() });
    const headers = { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`HTTP/1.1 ${status} ${reason}\r\n${head}\r\n${body}`);
  }
  socket.destroy();
}

function clientErrorAnswer(nodeCode: string | undefined): [number, string, ErrorCode, string] {
  switch (nodeCode) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', 'request_timeout', 'The request did not arrive in time'];
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large', 'headers_too_large', 'The request headers are too large'];
    default:
      return [400, 'Bad Request', 'bad_request', 'Malformed HTTP request'];
  }
}
