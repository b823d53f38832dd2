import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';

interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
  requestId: string;
}

/**
 * The one place errors become answers. AppErrors keep their code and safe message; Fastify's own
 * 4xx (bad JSON, body too large, schema failures) get stable codes; anything else is logged with
 * its stack and answered as a generic 500, so no internal detail (or value) reaches a client.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    const { status, body } = toAnswer(err, req.id);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: body.error.code, status }, 'request refused');
    if (err instanceof AppError && err.retryAfterS !== undefined) void reply.header('retry-after', String(err.retryAfterS));
    void reply.code(status).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: 'not_found', message: `No route ${req.method} ${req.url.split('?')[0]}` }, requestId: req.id });
  });
}

function toAnswer(err: FastifyError | AppError, requestId: string): { status: number; body: ErrorBody } {
  const answer = (code: ErrorCode, status: number, message: string, details?: unknown) => ({
    status,
    body: { error: { code, message, ...(details !== undefined ? { details } : {}) }, requestId },
  });
  if (err instanceof AppError) return answer(err.code, err.status, err.message, err.details);
  const fe = err as FastifyError;
  if (fe.validation) {
    // Paths and rule names only: Ajv messages never include the offending value.
    const details = fe.validation.map((v) => ({ path: `${fe.validationContext ?? ''}${v.instancePath}`, rule: v.keyword, message: v.message ?? 'invalid' }));
    const first = details[0];
    return answer('validation_failed', 400, `Invalid request: ${first ? `${first.path || '(root)'} ${first.message}` : 'schema mismatch'}`, details);
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return answer('body_too_large', 413, 'Request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return answer('unsupported_media_type', 415, 'Send JSON (Content-Type: application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return answer('bad_request', 400, 'Request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return answer('bad_request', 400, 'Request body is not valid JSON');
  }
  if (fe.statusCode === 405) return answer('method_not_allowed', 405, 'Method not allowed');
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return answer('bad_request', fe.statusCode, 'Bad request');
  return answer('internal_error', 500, `Internal error (request ${requestId})`);
}
