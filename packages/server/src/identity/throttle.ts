import { createHash } from 'node:crypto';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { memoryLimiters, type LimiterStore } from '../cluster/limiter-store.js';
import { AppError } from '../errors.js';
import type { Db } from '../storage/database.js';

/** The mailing and link endpoints, each limited on its own. */
export type RequestPurpose = 'reset' | 'reset-confirm' | 'verify' | 'verify-confirm' | 'signup' | 'signup-mail' | 'signup-verify' | 'invitation-accept' | 'emergency-access' | 'emergency-access-confirm';

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

/**
 * The limit that refused an attempt before it was verified (`429`, or `423` for a locked account):
 * a name from code, so a metric label made of it stays a short fixed list.
 */
export type ThrottleLimit =
  | 'sign-in/ip'
  | 'sign-in/account+ip'
  | 'sign-in/locked'
  | `${RequestPurpose}/ip`
  | `${RequestPurpose}/account+ip`
  | `${RequestPurpose}/account`
  // The HTTP rate limiter's (http/rate-limit/): a rule (`http/auth/ip`) or an org's plan, counted here too.
  | `http/${string}`
  | 'plan/requests-per-minute';

/**
 * What the brakes did since this instance started, for metrics and the security status: numbers by
 * reason and by limit only, never an email or an address.
 */
export interface ThrottleCounts {
  /** Failed attempts by the reason identity/ audits them with (`wrong_password`, `unknown_account`, …). */
  failures: ReadonlyMap<string, number>;
  /** Accounts this instance locked. */
  lockouts: number;
  refusals: ReadonlyMap<ThrottleLimit, number>;
}

export interface FailureOutcome {
  failures: number;
  /** Set when this very failure locked the account (so it is audited and mailed once). */
  lockedUntil: number | null;
}

/**
 * The brakes on guessing a password or a second factor. Every attempt is charged *before* it is
 * verified, so a burst of parallel attempts cannot slip past a count that only failures raise; a
 * success refunds its charge and clears the count.
 * - per account: more than `lockoutThreshold` attempts without a success lock sign-in for
 *   `lockoutS` (`423 account_locked`), right password or not. Kept in the database (shared by
 *   instances, kept across restarts) under a digest of the email, and kept the same way for emails
 *   that have no account, so a lock reveals nothing about whether the account exists. The count is
 *   one atomic upsert per attempt, so concurrent attempts are each counted.
 * - per IP and per account+IP: attempts per window (rate-limiter-flexible, in the `limiters` store:
 *   this instance's memory, or Redis shared by a cluster, falling back to memory while Redis is
 *   away: cluster/limiter-store.ts); `429 rate_limited`. Refunded on success, so a script that
 *   signs in often with the right password is never limited.
 * Lock times come from the injected clock; the rate windows from the real one (the library's).
 */
export class LoginThrottle {
  readonly #perIp: RateLimiterAbstract;
  readonly #perAccountIp: RateLimiterAbstract;
  /** Limits of the mailing and link endpoints, per purpose, made on first use. */
  readonly #requests = new Map<string, { perIp: RateLimiterAbstract; perAccountIp: RateLimiterAbstract; perAccount: RateLimiterAbstract }>();
  readonly #limiters: LimiterStore;
  readonly #failures = new Map<string, number>();
  readonly #refusals = new Map<ThrottleLimit, number>();
  #lockouts = 0;

  constructor(private readonly deps: { db: Db; policy: ThrottlePolicy; limiters?: LimiterStore }) {
    const { perIp, perAccountIp } = deps.policy;
    this.#limiters = deps.limiters ?? memoryLimiters;
    this.#perIp = this.#limiters('login-ip', perIp.points, perIp.durationS);
    this.#perAccountIp = this.#limiters('login-acct-ip', perAccountIp.points, perAccountIp.durationS);
  }

  /**
   * Charges one attempt; throws 429 rate_limited or 423 account_locked, otherwise the attempt may
   * go on to be verified. Follow it with `recordSuccess` or `recordFailure`.
   */
  async admit(email: string, ip: string | null, now: number, onLock: (trx: Db, lockedUntil: number) => Promise<void>): Promise<void> {
    const subject = subjectOf(email);
    await this.#charge(this.#perIp, ipKey(ip), 'sign-in/ip');
    await this.#charge(this.#perAccountIp, `${subject}:${ipKey(ip)}`, 'sign-in/account+ip');
    const { lockoutThreshold, lockoutS } = this.deps.policy;
    let lockedHere = false;
    const lockedUntil = await this.deps.db.transaction().execute(async (trx) => {
      // A lock that has run out starts a fresh count.
      await trx.updateTable('login_throttle').set({ failures: 0, locked_until: null }).where('subject', '=', subject).where('locked_until', '<=', now).execute();
      const row = await trx
        .insertInto('login_throttle')
        .values({ subject, failures: 1, locked_until: null, updated_at: now })
        .onConflict((oc) => oc.column('subject').doUpdateSet((eb) => ({ failures: eb('login_throttle.failures', '+', 1), updated_at: now })))
        .returning(['failures', 'locked_until'])
        .executeTakeFirstOrThrow();
      if (row.locked_until !== null) return Number(row.locked_until);
      if (Number(row.failures) <= lockoutThreshold) return null;
      // Past the threshold while earlier attempts are still being verified: lock now (audited here).
      const until = now + lockoutS * 1000;
      const res = await trx.updateTable('login_throttle').set({ locked_until: until }).where('subject', '=', subject).where('locked_until', 'is', null).executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) {
        await onLock(trx, until);
        lockedHere = true;
      }
      return until;
    });
    if (lockedHere) this.#lockouts++;
    if (lockedUntil !== null) {
      count(this.#refusals, 'sign-in/locked');
      throw new AppError('account_locked', 'Too many failed sign-ins; try again later', undefined, { retryAfterS: Math.ceil((lockedUntil - now) / 1000) });
    }
  }

  /**
   * For endpoints that mail a link or take one (reset, verification, sign-up, invitations): every
   * request counts, per IP (20 per 15 min) and per email+IP (5 per 15 min), so they cannot be used
   * to flood a mailbox or to guess links. 429 rate_limited beyond.
   */
  async admitRequest(purpose: RequestPurpose, email: string, ip: string | null): Promise<void> {
    let limits = this.#requests.get(purpose);
    if (!limits) {
      limits = {
        perIp: this.#limiters(`${purpose}-ip`, 20, 15 * 60),
        perAccountIp: this.#limiters(`${purpose}-acct-ip`, 5, 15 * 60),
        perAccount: this.#limiters(`${purpose}-acct`, 5, 3600),
      };
      this.#requests.set(purpose, limits);
    }
    await this.#charge(limits.perIp, ipKey(ip), `${purpose}/ip`);
    if (email) {
      await this.#charge(limits.perAccountIp, `${subjectOf(email)}:${ipKey(ip)}`, `${purpose}/account+ip`);
      // Also per email alone (5 an hour), whatever the address: rotating addresses must not let
      // anyone flood a mailbox, or keep voiding the owner's newest link.
      await this.#charge(limits.perAccount, subjectOf(email), `${purpose}/account`);
    }
  }

  /**
   * After a failed verification (already counted by `admit`): locks the account when this failure
   * reached the threshold, inside one transaction with `audit` (which learns whether it locked).
   * `reason` is what the failure is counted under (`counts`).
   */
  async recordFailure(email: string, reason: string, now: number, audit: (trx: Db, outcome: FailureOutcome) => Promise<void>): Promise<FailureOutcome> {
    const subject = subjectOf(email);
    const { lockoutThreshold, lockoutS } = this.deps.policy;
    const outcome = await this.deps.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('login_throttle').select(['failures', 'locked_until']).where('subject', '=', subject).executeTakeFirst();
      const failures = Number(row?.failures ?? 0);
      let lockedUntil: number | null = null;
      if (row && failures >= lockoutThreshold && row.locked_until === null) {
        const until = now + lockoutS * 1000;
        const res = await trx.updateTable('login_throttle').set({ locked_until: until }).where('subject', '=', subject).where('locked_until', 'is', null).executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0) lockedUntil = until;
      }
      const outcome = { failures, lockedUntil };
      await audit(trx, outcome);
      return outcome;
    });
    // Counted once committed: a failure whose record could not be written did not happen here.
    count(this.#failures, reason);
    if (outcome.lockedUntil !== null) this.#lockouts++;
    return outcome;
  }

  /**
   * Counts a refusal of the HTTP rate limiter (http/rate-limit/) with the brakes' own, so metrics
   * and the security status show every 429 of this instance in one place, by limit.
   */
  countRefusal(limit: ThrottleLimit): void {
    count(this.#refusals, limit);
  }

  /** What the brakes did since this instance started (live views, read at a scrape). */
  counts(): ThrottleCounts {
    return { failures: this.#failures, lockouts: this.#lockouts, refusals: this.#refusals };
  }

  /** A success ends the count (in the success's own transaction) and refunds the rate charges. */
  async recordSuccess(trx: Db, email: string, ip: string | null): Promise<void> {
    await this.clearLock(trx, email);
    await this.#refundRates(email, ip);
  }

  /** Ends the count and any lock without touching rate charges (a password reset proves the owner). */
  async clearLock(trx: Db, email: string): Promise<void> {
    await trx.deleteFrom('login_throttle').where('subject', '=', subjectOf(email)).execute();
  }

  /**
   * Gives back the charge of an attempt that neither succeeded nor failed (the password was right
   * but the second factor was not sent yet), so that asking for the code costs nothing.
   */
  async refund(email: string, ip: string | null): Promise<void> {
    await this.deps.db.updateTable('login_throttle').set((eb) => ({ failures: eb('failures', '-', 1) })).where('subject', '=', subjectOf(email)).where('failures', '>', 0).execute();
    await this.#refundRates(email, ip);
  }

  async #charge(limiter: RateLimiterAbstract, key: string, limit: ThrottleLimit): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      count(this.#refusals, limit);
      throw new AppError('rate_limited', 'Too many attempts; try again later', undefined, { retryAfterS: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) });
    }
  }

  async #refundRates(email: string, ip: string | null): Promise<void> {
    await this.#perIp.reward(ipKey(ip), 1);
    await this.#perAccountIp.reward(`${subjectOf(email)}:${ipKey(ip)}`, 1);
  }
}

function subjectOf(email: string): string {
  return createHash('sha256').update(`login:${email}`, 'utf8').digest('hex');
}

const ipKey = (ip: string | null) => ip ?? 'unknown';

function count<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
