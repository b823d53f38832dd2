/**
 * Renewing the stored session's access token. A refresh token works once, and the server ends the
 * session when one is presented twice, so two keynest processes (parallel CI steps, a shell loop)
 * must never refresh with the same token: they take turns under a lock file next to the
 * credentials, and whoever comes second finds the file already renewed and uses that.
 */
import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import { KeyNestApiError, KeyNestClient, type FetchLike } from '@keynest/sdk';
import { CliError } from '../errors.js';
import { credentialsPath, readCredentials, writeCredentials } from './credentials.js';

/** A holder that crashed leaves its lock behind; after this long it is presumed dead. */
const STALE_LOCK_MS = 30_000;
const WAIT_STEP_MS = 25;
const MAX_WAIT_MS = 15_000;

export function sessionEnded(): CliError {
  return new CliError('not_logged_in', 'your session has ended (signed out, revoked or expired): run keynest login');
}

/**
 * A fresh access token for the stored session of `server`. `refused` is the access token the
 * server just refused: if the file already holds another one, a concurrent process renewed it.
 * Returns null when there is no stored session for this server any more.
 */
export async function renewStoredSession(env: NodeJS.ProcessEnv, server: string, refused: string, fetch: FetchLike): Promise<string | null> {
  return withLock(credentialsPath(env), async () => {
    const stored = readCredentials(env);
    if (!stored || stored.server !== server) return null;
    if (stored.accessToken !== refused) return stored.accessToken;
    let renewed;
    try {
      renewed = await new KeyNestClient({ server, fetch }).refresh(stored.refreshToken);
    } catch (error) {
      if (error instanceof KeyNestApiError && error.code === 'invalid_refresh_token') throw sessionEnded();
      throw error;
    }
    if (!renewed.refreshToken) throw new CliError('unexpected_response', 'the server renewed the session without a refresh token');
    writeCredentials(env, { ...stored, accessToken: renewed.accessToken, refreshToken: renewed.refreshToken, sessionExpiresAt: renewed.session.expiresAt });
    return renewed.accessToken;
  });
}

async function withLock<T>(target: string, work: () => Promise<T>): Promise<T> {
  const lock = `${target}.lock`;
  const started = Date.now();
  for (;;) {
    try {
      // O_EXCL: exactly one process creates it; the others wait.
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError('credentials_unwritable', `cannot lock ${target}: ${(error as Error).message}`);
    }
    if (isStale(lock)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() - started > MAX_WAIT_MS) throw new CliError('credentials_locked', `${lock} is held by another keynest process; remove it if none is running`);
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}

function isStale(lock: string): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS;
  } catch {
    // Gone between our attempt and now: try again at once.
    return true;
  }
}
