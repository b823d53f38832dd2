/**
 * The one line a failure prints: `error: <message> (<code>)`. Server errors keep their documented
 * code; anything unexpected is reported as `internal` with its message only.
 */

export function errorLine(error: unknown): string {
  let message: string;
  let code: string;
  if (typeof error === 'object' && error !== null && 'message' in error) {
    message = String(error.message);
    code = 'code' in error && typeof error.code === 'string' && error.code !== '' ? error.code : 'internal';
  } else {
    message = String(error);
    code = 'internal';
  }
  if (needsLoginHint(error)) message += '; run keynest login, or check KEYNEST_TOKEN';
  // One line, always: a multi-line message would break scripts that read stderr line by line.
  const flat = message.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim() || 'unexpected failure';
  return `error: ${flat} (${code})\n`;
}

/** Codes that mean "your credential no longer works", as opposed to a wrong password or setup token. */
const STALE_CREDENTIAL_CODES = new Set(['unauthenticated', 'token_expired', 'token_revoked']);

function needsLoginHint(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { status, code } = error as { status?: unknown; code?: unknown };
  return status === 401 && typeof code === 'string' && STALE_CREDENTIAL_CODES.has(code);
}
