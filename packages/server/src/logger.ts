import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * Field names that may hold a secret anywhere in a logged object: request bodies, headers, errors.
 * Declared once here; the redaction paths below are built from this list, not kept by hand.
 */
export const SENSITIVE_FIELDS = [
  'password',
  'newPassword',
  'currentPassword',
  'value',
  'values',
  'token',
  'setupToken',
  'authorization',
  'cookie',
  'set-cookie',
  'rootKey',
  'secret',
  'secrets',
  'plaintext',
  'ciphertext',
  'wrapped_key',
  'password_hash',
  'token_digest',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const f of SENSITIVE_FIELDS) {
    const key = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`;
    const dot = key.startsWith('[') ? '' : '.';
    paths.push(key, `*${dot}${key}`, `*.*${dot}${key}`, `req.headers${dot}${key}`);
  }
  return paths;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths(), censor: '[redacted]' },
      base: { service: 'keynest' },
    },
    destination,
  );
}
