import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { AppError } from '../errors.js';

/**
 * Deepest nesting of arrays and objects a JSON body may have. No KeyNest body comes close (the
 * deepest, an org's settings, is three levels); the bound stops a body of 10,000 `[` from reaching
 * code that walks it recursively (schema validation, logging, serializers) and overflowing the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * A route that declares no body schema takes no body: at most this, enough for the `{}` or `null`
 * that clients send with a bodyless POST. Routes with a body schema take up to
 * KEYNEST_BODY_LIMIT_BYTES; bodies are refused by their Content-Length before they are read.
 */
export const NO_BODY_LIMIT_BYTES = 1024;

/**
 * Bounds every request body (docs/http-hardening.md#limits): by route (size), and by shape (JSON
 * nesting). Registered before the routes: the size bound is fixed on each route as it is added.
 */
export function registerBodyLimits(app: FastifyInstance, opts: { bodyLimitBytes: number }): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.bodyLimit !== undefined) return;
    route.bodyLimit = route.schema?.body === undefined ? Math.min(NO_BODY_LIMIT_BYTES, opts.bodyLimitBytes) : opts.bodyLimitBytes;
  });
  // Fastify's own JSON parser (secure-json-parse: prototype poisoning refused), behind a depth check.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      done(new AppError('json_too_deep', `The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep`));
      return;
    }
    parseJson(req, text, done);
  });
}

/**
 * Whether `text` nests arrays/objects deeper than `max`, found by one pass over its characters
 * (brackets inside strings do not count) without parsing it: no recursion, no allocation. Invalid
 * JSON is left to the parser, which refuses it.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

