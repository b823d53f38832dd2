/**
 * The stored login: `$XDG_CONFIG_HOME/keynest/credentials.json` (else `~/.config/keynest/`).
 * It holds the session's access token and its single-use refresh token, so the directory is 0700
 * and the file 0600 from the moment it exists: it is written to a private temporary file and
 * renamed into place (readers never see half a file), never created with default permissions and
 * tightened afterwards.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../errors.js';

export interface Credentials {
  server: string;
  email: string;
  org: string;
  /** Short-lived (a JWT); renewed with the refresh token when the server refuses it. */
  accessToken: string;
  /** Single use: each refresh stores the next one. Using an old one again ends the session. */
  refreshToken: string;
  sessionExpiresAt: string;
}

const FIELDS = ['server', 'email', 'org', 'accessToken', 'refreshToken', 'sessionExpiresAt'] as const;

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;

export function configDirectory(env: NodeJS.ProcessEnv): string {
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && xdg.startsWith('/') ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'keynest');
}

export function credentialsPath(env: NodeJS.ProcessEnv): string {
  return join(configDirectory(env), 'credentials.json');
}

export function readCredentials(env: NodeJS.ProcessEnv): Credentials | null {
  const path = credentialsPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError('credentials_unreadable', `cannot read ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!isCredentials(value)) {
    throw new CliError('credentials_invalid', `${path} is not a valid credentials file; run keynest login again`);
  }
  return value;
}

export function writeCredentials(env: NodeJS.ProcessEnv, credentials: Credentials): string {
  const directory = configDirectory(env);
  mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
  // mkdir leaves an existing directory as it was, and umask may have narrowed a new one oddly.
  chmodSync(directory, DIRECTORY_MODE);
  const path = credentialsPath(env);
  const temporary = `${path}.${process.pid}.tmp`;
  const kept = Object.fromEntries(FIELDS.map((f) => [f, credentials[f]]));
  try {
    // A leftover from a crashed run with the same pid would make the exclusive create fail.
    rmSync(temporary, { force: true });
    writeFileSync(temporary, `${JSON.stringify(kept, null, 2)}\n`, {
      mode: FILE_MODE,
      flag: 'wx',
    });
    chmodSync(temporary, FILE_MODE);
    renameSync(temporary, path);
    chmodSync(path, FILE_MODE);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new CliError('credentials_unwritable', `cannot write ${path}: ${(error as Error).message}`);
  }
  return path;
}

/** True when a stored login was removed. */
export function deleteCredentials(env: NodeJS.ProcessEnv): boolean {
  const path = credentialsPath(env);
  try {
    rmSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CliError('credentials_unwritable', `cannot remove ${path}: ${(error as Error).message}`);
  }
}

function isCredentials(value: unknown): value is Credentials {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return FIELDS.every((field) => typeof record[field] === 'string');
}
