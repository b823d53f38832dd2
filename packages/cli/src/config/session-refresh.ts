/**
 * Renewing the stored session's access token. A refresh token works once, and the server ends the
 * session when one is presented twice, so two keynest processes (parallel CI steps, a shell loop)
 * must never refresh with the same token: they take turns under a lock file next to the
 * credentials, and whoever comes second finds the file already renewed and uses that.
 */
import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { KeyNestApiError, KeyNestClient, type FetchLike } from '@keynest/sdk';
import { CliError } from '../errors.js';
import { credentialsPath, readCredentials, writeCredentials } from './credentials.js';

/** A lock older than this is abandoned even if its pid is alive (the pid was reused): no refresh takes that long. */
const ABANDONED_LOCK_MS = 10 * 60_000;
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
      // Superseded: something outside this lock exchanged the token a moment ago and kept the result.
      if (error instanceof KeyNestApiError && (error.code === 'invalid_refresh_token' || error.code === 'refresh_token_superseded')) throw sessionEnded();
      throw error;
    }
    if (!renewed.refreshToken) throw new CliError('unexpected_response', 'the server renewed the session without a refresh token');
    writeCredentials(env, { ...stored, accessToken: renewed.accessToken, refreshToken: renewed.refreshToken, sessionExpiresAt: renewed.session.expiresAt });
    return renewed.accessToken;
  });
}

/** Runs `work` holding the lock file of `target` (exported for its tests). */
export async function withLock<T>(target: string, work: () => Promise<T>): Promise<T> {
  const lock = `${target}.lock`;
  const mine = `${process.pid}\n${randomUUID()}\n`;
  const started = Date.now();
  for (;;) {
    try {
      // O_EXCL: exactly one process creates it; the others wait. It names its holder.
      writeFileSync(lock, mine, { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError('credentials_unwritable', `cannot lock ${target}: ${(error as Error).message}`);
    }
    takeOverIfAbandoned(lock);
    if (Date.now() - started > MAX_WAIT_MS) throw new CliError('credentials_locked', `${lock} is held by another keynest process; remove it if none is running`);
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
  try {
    return await work();
  } finally {
    // Only our own lock: nobody takes over the lock of a live process, so it is still ours.
    if (readLock(lock) === mine) rmSync(lock, { force: true });
  }
}

/**
 * Removes a lock whose holder is gone: its process no longer exists (it crashed mid-refresh), or it
 * is far older than any refresh takes (the pid was reused). The lock is first renamed to a name of
 * our own, so of two waiters that both found it abandoned only one removes it.
 */
function takeOverIfAbandoned(lock: string): void {
  const content = readLock(lock);
  if (content === null) return;
  const pid = Number(content.split('\n')[0]);
  let age: number;
  try {
    age = Date.now() - statSync(lock).mtimeMs;
  } catch {
    return;
  }
  // A lock with no holder written yet is being taken right now (O_EXCL creates the file before its
  // content is written): it is as live as one whose holder runs, until it is too old to be.
  const beingWritten = content.trim() === '';
  if ((beingWritten || processAlive(pid)) && age < ABANDONED_LOCK_MS) return;
  const aside = `${lock}.${randomUUID()}.abandoned`;
  try {
    renameSync(lock, aside);
  } catch {
    return;
  }
  // Between reading and renaming, the lock may have changed hands: put a live one back.
  if (readLock(aside) !== content) {
    try {
      linkSync(aside, lock);
    } catch {
      // Someone holds the lock path again; the moved lock's holder will find it gone and not remove theirs.
    }
  }
  rmSync(aside, { force: true });
}

function readLock(lock: string): string | null {
  try {
    return readFileSync(lock, 'utf8');
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
