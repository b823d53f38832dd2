/**
 * The one error the SDK throws for a failed call. `code` is the server's stable error code
 * (docs/errors.md), or one of the client-side codes below when no usable answer arrived; callers branch
 * on `code`, never on `message`.
 */

/** The server could not be reached at all (connection refused, DNS failure, TLS failure). */
export const SERVER_UNREACHABLE = 'server_unreachable';
/** The server answered, but not with the documented error body (e.g. a proxy's HTML page). */
export const UNEXPECTED_RESPONSE = 'unexpected_response';

export interface KeyNestApiErrorInit {
  status: number;
  code: string;
  message: string;
  requestId?: string | undefined;
  details?: unknown;
}

export class KeyNestApiError extends Error {
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  /** Offending field paths on validation errors; never secret values. */
  readonly details: unknown;

  constructor(init: KeyNestApiErrorInit, options?: { cause?: unknown }) {
    super(init.message, options);
    this.name = 'KeyNestApiError';
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.details = init.details;
  }
}

export function isKeyNestApiError(value: unknown): value is KeyNestApiError {
  return value instanceof KeyNestApiError;
}
