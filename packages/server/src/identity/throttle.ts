import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors.js';
import type { Db } from '../storage/database.js';

/** `points` attempts per `durationS` seconds. */
export interface RateLimit {
  points: number;
  durationS: number;
}

export interface ThrottlePolicy {
  /** Consecutive failed sign-ins that lock an account. */
  lockoutThreshold: number;
  lockoutS: number;
  perIp: RateLimit;
  perAccountIp: RateLimit;
}

export interface FailureOutcome {
  failures: number;
  /** Set when this very failure locked the account (so it is audited and mailed once). */
  lockedUntil: number | null;
}

/**
 * The brakes on password guessing, checked before a password is even looked at:
 * - per account: `lockoutThreshold` consecutive failures lock sign-in for `lockoutS`, right password
 *   or not. Kept in the database (shared by instances, kept across restarts) under a digest of the
 *   email, and kept the same way for emails that have no account, so a lock reveals nothing about
 *   whether the account exists. A successful sign-in clears it.
 * - per IP and per account+IP: failed attempts per window (rate-limiter-flexible, in this
 *   instance's memory; issue 6 moves them to Redis for a cluster). They bound a spray across many
 *   accounts, which the per-account lock alone does not. Only failures count, so a script that
 *   signs in often with the right password is never limited.
 * Lock times come from the injected clock; the rate windows from the real one (the library's).
 */
export class LoginThrottle {
  readonly #perIp: RateLimiterMemory;
  readonly #perAccountIp: RateLimiterMemory;

  constructor(private readonly deps: { db: Db; policy: ThrottlePolicy }) {
    const { perIp, perAccountIp } = deps.policy;
    this.#perIp = new RateLimiterMemory({ keyPrefix: 'login-ip', points: perIp.points, duration: perIp.durationS });
    this.#perAccountIp = new RateLimiterMemory({ keyPrefix: 'login-acct-ip', points: perAccountIp.points, duration: perAccountIp.durationS });
  }

  /** Throws 429 rate_limited or 423 account_locked; otherwise the attempt may go on. */
  async admit(email: string, ip: string | null, now: number): Promise<void> {
    const subject = subjectOf(email);
    await refuseIfSpent(this.#perIp, ipKey(ip));
    await refuseIfSpent(this.#perAccountIp, `${subject}:${ipKey(ip)}`);
    const row = await this.deps.db.selectFrom('login_throttle').select('locked_until').where('subject', '=', subject).executeTakeFirst();
    if (row?.locked_until != null && row.locked_until > now) {
      throw new AppError('account_locked', 'Too many failed sign-ins; try again later', undefined, { retryAfterS: Math.ceil((row.locked_until - now) / 1000) });
    }
  }

  /**
   * Counts a failure. Race-free on PostgreSQL: the increment is one upsert, and the lock is set by
   * an UPDATE that only one of several concurrent failures can win.
   */
  async recordFailure(email: string, ip: string | null, now: number): Promise<FailureOutcome> {
    const subject = subjectOf(email);
    await spend(this.#perIp, ipKey(ip));
    await spend(this.#perAccountIp, `${subject}:${ipKey(ip)}`);
    const { lockoutThreshold, lockoutS } = this.deps.policy;
    return this.deps.db.transaction().execute(async (trx) => {
      // A lock that has run out starts a fresh count.
      await trx.updateTable('login_throttle').set({ failures: 0, locked_until: null }).where('subject', '=', subject).where('locked_until', '<=', now).execute();
      const row = await trx
        .insertInto('login_throttle')
        .values({ subject, failures: 1, locked_until: null, updated_at: now })
        .onConflict((oc) => oc.column('subject').doUpdateSet((eb) => ({ failures: eb('login_throttle.failures', '+', 1), updated_at: now })))
        .returning(['failures', 'locked_until'])
        .executeTakeFirstOrThrow();
      const failures = Number(row.failures);
      if (failures < lockoutThreshold || row.locked_until !== null) return { failures, lockedUntil: null };
      const lockedUntil = now + lockoutS * 1000;
      const res = await trx
        .updateTable('login_throttle')
        .set({ locked_until: lockedUntil })
        .where('subject', '=', subject)
        .where('locked_until', 'is', null)
        .executeTakeFirst();
      return { failures, lockedUntil: Number(res.numUpdatedRows) > 0 ? lockedUntil : null };
    });
  }

  /** A successful sign-in ends the count (in the sign-in's own transaction). */
  async recordSuccess(trx: Db, email: string): Promise<void> {
    await trx.deleteFrom('login_throttle').where('subject', '=', subjectOf(email)).execute();
  }
}

function subjectOf(email: string): string {
  return createHash('sha256').update(`login:${email}`, 'utf8').digest('hex');
}

const ipKey = (ip: string | null) => ip ?? 'unknown';

async function refuseIfSpent(limiter: RateLimiterMemory, key: string): Promise<void> {
  const state = await limiter.get(key);
  if (state && state.consumedPoints >= limiter.points) {
    throw new AppError('rate_limited', 'Too many attempts; try again later', undefined, { retryAfterS: Math.max(1, Math.ceil(state.msBeforeNext / 1000)) });
  }
}

/** One failure against a limit; going over it is what `refuseIfSpent` reports next time. */
async function spend(limiter: RateLimiterMemory, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
  }
}
