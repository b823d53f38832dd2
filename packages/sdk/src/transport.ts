/**
 * One HTTP exchange with the server: builds the URL, sends JSON, and turns every failure into a
 * KeyNestApiError. Kept apart from the client so the route methods read as a list of routes.
 */
import { KeyNestApiError, SERVER_UNREACHABLE, UNEXPECTED_RESPONSE } from './errors.js';
import type { ApiErrorBody } from './types.js';

/** What the SDK sends: the global fetch accepts it, and so can a lighter transport. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

/** What the SDK reads of an answer: a subset of the standard Response. */
export interface FetchResponse {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  /** The body as it arrives, for answers too large to hold (an audit export); read it or text(), not both. */
  body?: AsyncIterable<Uint8Array> | null;
}

/**
 * The global fetch fits this type. Callers may pass another implementation: the CLI passes one on
 * node:http, because loading fetch's HTTP stack costs a short-lived command more than its request.
 */
export type FetchLike = (input: string, init: FetchInit) => Promise<FetchResponse>;

export type QueryValue = string | number | boolean | undefined;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Already-encoded path below the server root, e.g. `/api/v1/projects/a%20b`. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
}

export interface TransportOptions {
  server: string;
  token?: string | undefined;
  fetch: FetchLike;
}

/** Encodes one path segment: a name such as `a/b` must stay one segment, never become two. */
export function segment(value: string | number): string {
  return encodeURIComponent(String(value));
}

export function buildUrl(server: string, path: string, query?: Record<string, QueryValue>): string {
  const base = server.replace(/\/+$/, '');
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(name, String(value));
  }
  const search = params.toString();
  return `${base}${path}${search ? `?${search}` : ''}`;
}

export async function send<T>(options: TransportOptions, spec: RequestSpec): Promise<T> {
  const response = await exchange(options, spec, 'application/json');
  const text = await readBody(response, options.server);
  if (!response.ok) throw errorFromAnswer(response, text);
  if (response.status === 204 || text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new KeyNestApiError({
      status: response.status,
      code: UNEXPECTED_RESPONSE,
      message: `the server answered ${response.status} with a body that is not JSON`,
      requestId: response.headers.get('x-request-id') ?? undefined,
    });
  }
}

/** For a large answer: its body as it arrives (an error answer is still read and thrown whole). */
export async function sendForStream(options: TransportOptions, spec: RequestSpec): Promise<AsyncIterable<Uint8Array>> {
  const response = await exchange(options, spec, '*/*');
  if (!response.ok) throw errorFromAnswer(response, await readBody(response, options.server));
  if (!response.body) {
    const text = await readBody(response, options.server);
    return (async function* () {
      yield new TextEncoder().encode(text);
    })();
  }
  return response.body;
}

async function exchange(options: TransportOptions, spec: RequestSpec, accept: string): Promise<FetchResponse> {
  const url = buildUrl(options.server, spec.path, spec.query);
  const headers: Record<string, string> = { accept };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (spec.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(spec.body);
  }

  try {
    return await options.fetch(url, { method: spec.method, headers, body });
  } catch (cause) {
    throw new KeyNestApiError(
      { status: 0, code: SERVER_UNREACHABLE, message: `cannot reach the KeyNest server at ${options.server}` },
      { cause },
    );
  }
}

async function readBody(response: FetchResponse, server: string): Promise<string> {
  try {
    return await response.text();
  } catch (cause) {
    // The connection dropped mid-answer: for the caller this is the same as not reaching the server.
    throw new KeyNestApiError(
      { status: 0, code: SERVER_UNREACHABLE, message: `lost the connection to the KeyNest server at ${server}` },
      { cause },
    );
  }
}

function errorFromAnswer(response: FetchResponse, text: string): KeyNestApiError {
  const headerRequestId = response.headers.get('x-request-id') ?? undefined;
  const parsed = parseErrorBody(text);
  if (parsed) {
    return new KeyNestApiError({
      status: response.status,
      code: parsed.error.code,
      message: parsed.error.message,
      requestId: parsed.requestId ?? headerRequestId,
      details: parsed.error.details,
    });
  }
  return new KeyNestApiError({
    status: response.status,
    code: UNEXPECTED_RESPONSE,
    message: `the server answered ${response.status} ${response.statusText}`.trim(),
    requestId: headerRequestId,
  });
}

function parseErrorBody(text: string): ApiErrorBody | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  const requestId = (value as { requestId?: unknown }).requestId;
  return {
    error: { code, message, details: (error as { details?: unknown }).details },
    requestId: typeof requestId === 'string' ? requestId : undefined,
  };
}
