/**
 * The SDK's transport on node:http. The global fetch loads its whole HTTP stack on first use and
 * keeps its connection alive after the answer; for a command that makes one request and exits (the
 * typical `keynest run`) that costs a few hundred milliseconds, against a few for node:http.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { FetchInit, FetchResponse } from '@keynest/sdk';

export async function httpFetch(url: string, init: FetchInit): Promise<FetchResponse> {
  const target = new URL(url);
  // TLS is loaded only when a server actually uses it.
  const request = target.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
  // Lets the sessions list say "KeyNest CLI on Linux" for a session signed in from here.
  const headers: Record<string, string> = { 'user-agent': `keynest-cli (node ${process.version}; ${process.platform} ${process.arch})`, ...init.headers };
  if (body !== undefined) headers['content-length'] = String(body.length);
  const options: RequestOptions = { method: init.method, headers };

  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = request(target, options, resolve);
    outgoing.on('error', reject);
    outgoing.end(body);
  });
  const status = response.statusCode ?? 0;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? '',
    headers: {
      get(name: string): string | null {
        const value = response.headers[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    text: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of streamed(response)) chunks.push(chunk);
      return Buffer.concat(chunks).toString('utf8');
    },
    body: streamed(response),
  };
}

/** The answer's chunks; a connection cut before the end is an error, not a short body. */
async function* streamed(response: IncomingMessage): AsyncGenerator<Buffer> {
  let complete = false;
  response.once('end', () => {
    complete = true;
  });
  for await (const chunk of response) yield chunk as Buffer;
  if (!complete && !response.complete) throw new Error('the connection closed before the answer was complete');
}
