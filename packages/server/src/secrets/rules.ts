import { AppError } from '../errors.js';

/** UPPER_SNAKE_CASE: what shells, dotenv and Kubernetes all accept as a variable name. */
export const SECRET_KEY_PATTERN = /^[A-Z_][A-Z0-9_]*$/;
export const SECRET_KEY_MAX_LENGTH = 256;
/** 64 KiB of UTF-8: room for certificates and service-account JSON, not for files. */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;
export const BATCH_MAX_SECRETS = 1000;

export function assertSecretKey(key: string): void {
  if (key.length === 0 || key.length > SECRET_KEY_MAX_LENGTH || !SECRET_KEY_PATTERN.test(key)) {
    throw new AppError(
      'invalid_secret_key',
      `Invalid secret key "${key.slice(0, 64)}": use UPPER_SNAKE_CASE (A-Z, 0-9, _; not starting with a digit), at most ${SECRET_KEY_MAX_LENGTH} characters`,
    );
  }
}

export function assertSecretValue(key: string, value: string): void {
  // The message names the key and the limit, never the value.
  if (Buffer.byteLength(value, 'utf8') > SECRET_VALUE_MAX_BYTES) {
    throw new AppError('value_too_large', `Value of ${key} is larger than ${SECRET_VALUE_MAX_BYTES} bytes`);
  }
}
