/**
 * Turning command-line input into secret writes: `KEY=VALUE` pairs and text read from files or stdin.
 * Keys are checked here, with the server's rule (docs/api.md), so a typo is named before anything is
 * sent and the batch is not half-built.
 */
import { readFileSync } from 'node:fs';
import { CliError, UsageError } from './errors.js';

const SECRET_KEY = /^[A-Z_][A-Z0-9_]*$/;
const MAX_KEY_LENGTH = 256;

export function checkSecretKey(key: string, where = ''): string {
  if (key.length > MAX_KEY_LENGTH || !SECRET_KEY.test(key)) {
    throw new CliError(
      'invalid_secret_key',
      `invalid key "${key}"${where}: keys are upper-case letters, digits and _, not starting with a digit`,
    );
  }
  return key;
}

/** `KEY=VALUE`, split at the first `=` so the value may hold any number of its own. */
export function parseAssignment(argument: string): { key: string; value: string } {
  const equals = argument.indexOf('=');
  if (equals === -1) {
    throw new UsageError(`"${argument}" has no value: write KEY=VALUE, or use --from-file or --stdin`);
  }
  const key = argument.slice(0, equals);
  if (key === '') throw new UsageError('an assignment has no key before "="');
  return { key: checkSecretKey(key), value: argument.slice(equals + 1) };
}

/** Bytes as UTF-8 text, refusing anything else: a replacement character would silently change a value. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CliError('invalid_encoding', `${source} is not UTF-8 text`);
  }
}

export function readTextFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new CliError('file_unreadable', `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return decodeUtf8(bytes, path);
}

export function rejectDuplicateKeys(keys: string[]): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) throw new UsageError(`${key} is given twice`);
    seen.add(key);
  }
}
