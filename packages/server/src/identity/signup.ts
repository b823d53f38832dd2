import type { AuditService } from '../audit/service.js';
import type { BackgroundWork } from '../background.js';
import type { AnonymousContext } from '../context.js';
import { hashPassword, verifyPassword } from '../crypto/passwords.js';
import { constantTimeEqual, newToken, tokenDigest, tokenKind } from '../crypto/random.js';
import type { Mailer } from '../email/mailer.js';
import { composeMail } from '../email/templates.js';
import { AppError } from '../errors.js';
import { admitsEmail, type OpenSignupSettings } from '../orgs/open-signup.js';
import type { OrgService } from '../orgs/service.js';
import { isUniqueViolation } from '../storage/dialect.js';
import type { Db } from '../storage/database.js';
import { createMember } from './new-member.js';
import type { OrgQuotas } from '../orgs/quotas.js';
import { normalizeEmail, type IdentityService, type SignedIn } from './service.js';
import type { SessionService } from './sessions.js';
import { deleteExpiredSignupRequests, findSignupRequest, findUserByEmail, insertSignupRequest, useSignupRequest, voidSignupRequests } from './signup-store.js';
import type { LoginThrottle } from './throttle.js';

export const SIGNUP_TTL_MS = 24 * 3600 * 1000;

type Target = { org: { id: string; name: string }; openSignup: OpenSignupSettings };

/**
 * Open sign-up: people join an org that allows it (an org setting, off by default) by proving
 * they read mail at an address the org admits. Invariants:
 * - asking to sign up answers the same (202, one body) whether sign-up is open or closed, the
 *   domain admitted or not, the email known or not, and costs the same: the password policy and
 *   one argon2id hash run before the answer in every case (they depend only on what the caller
 *   sent), and every lookup, row and mail comes after it (`BackgroundWork`);
 * - no account exists until the mailed link (24 h, single use, stored as a digest) is used, so a
 *   stranger typing someone's address creates nothing that could block that person's sign-up; a
 *   new request adds a link and leaves older ones working, so nobody can void another's link;
 * - using the link needs the password chosen when asking: whoever asked must also hold the
 *   mailbox. Otherwise someone could ask with a victim's address and a password of their own, and
 *   the victim, clicking the link, would create an account whose password the asker knows
 *   (pre-account hijacking);
 * - an email that already has an account gets a mail saying so instead, and nothing changes;
 * - the org's setting is read again when the link is used: closing sign-up, or dropping the
 *   domain, stops pending links; the role given is the one set then.
 */
export class OpenSignup {
  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      orgs: Pick<OrgService, 'signupTarget' | 'openSignup' | 'getOrg'>;
      identity: Pick<IdentityService, 'assertAcceptablePassword'>;
      sessions: Pick<SessionService, 'create'>;
      throttle: Pick<LoginThrottle, 'admitRequest'>;
      mailer: Mailer;
      background: BackgroundWork;
      quotas: Pick<OrgQuotas, 'assertRoom'>;
      publicUrl: string;
    },
  ) {}

  /**
   * Throws only 429 rate_limited and 400 weak_password (about the password itself), neither of
   * which depends on accounts or the org's setting; everything else happens after the answer.
   */
  async request(input: { email: string; password: string; org?: string | undefined }, ctx: AnonymousContext): Promise<void> {
    const email = normalizeEmail(input.email);
    // Per address first: the policy check below is CPU work anyone may ask for.
    await this.deps.throttle.admitRequest('signup', '', ctx.ip);
    // The org is looked up by what the caller typed (or is the only one); its stricter policy, and
    // its name as personal information, apply whether or not it is open to sign-up.
    const target = await this.deps.orgs.signupTarget(input.org);
    await this.deps.identity.assertAcceptablePassword(input.password, { email, ...(target && { orgName: target.org.name }) }, target?.org.id ?? null);
    // Per email only for requests that may mail: trying weak passwords must not spend the
    // address's allowance (5 an hour) and shut its owner out for the hour.
    await this.deps.throttle.admitRequest('signup-mail', email, ctx.ip);
    const passwordHash = await hashPassword(input.password);
    this.deps.background.run('sign-up request', ctx.requestId, () => this.#handle(email, passwordHash, target, ctx));
  }

  /** Uses a mailed link with the password chosen when asking; creates the account and signs in. */
  async verify(input: { token: string; password: string; rememberMe?: boolean | undefined }, ctx: AnonymousContext): Promise<SignedIn> {
    await this.deps.throttle.admitRequest('signup-verify', '', ctx.ip);
    const digest = tokenKind(input.token) === 'sgn' ? tokenDigest(input.token) : null;
    const row = digest === null ? undefined : await findSignupRequest(this.deps.db, digest);
    if (!row || digest === null || !constantTimeEqual(row.token_digest, digest) || row.used_at !== null || row.expires_at <= ctx.now) throw invalidSignup();
    if (!(await verifyPassword(row.password_hash, input.password))) {
      throw new AppError('invalid_credentials', 'This is not the password chosen when signing up');
    }
    const org = await this.deps.orgs.getOrg(row.org_id);
    const settings = await this.deps.orgs.openSignup(this.deps.db, row.org_id);
    if (!org || !admitsEmail(settings, row.email)) throw invalidSignup();
    try {
      return await this.deps.db.transaction().execute(async (trx) => {
        if (!(await useSignupRequest(trx, row.token_digest, ctx.now))) throw invalidSignup();
        if (await findUserByEmail(trx, row.email)) throw invalidSignup('An account with this email exists already: sign in with it');
        await voidSignupRequests(trx, row.email, ctx.now);
        // A new member takes a seat of the org's plan (403 quota_exceeded when none is free).
        await this.deps.quotas.assertRoom(trx, org.id, 'members', 1, ctx.now);
        const member = { email: row.email, passwordHash: row.password_hash, org, role: settings.role, method: 'open_signup' as const };
        return createMember(trx, this.deps, member, ctx, { rememberMe: input.rememberMe === true });
      });
    } catch (err) {
      // Another link for the same email (or an invitation) made the account first.
      if (isUniqueViolation(err)) throw invalidSignup('An account with this email exists already: sign in with it');
      throw err;
    }
  }

  async #handle(email: string, passwordHash: string, target: Target | undefined, ctx: AnonymousContext): Promise<void> {
    // Closed, no such org, or a domain it does not admit: nothing happens, and nothing is recorded
    // (an audit row per refused stranger would let anyone fill the log).
    if (!target || !admitsEmail(target.openSignup, email)) return;
    const { db, audit, mailer } = this.deps;
    const audited = { orgId: target.org.id, actor: { type: 'anonymous' as const, id: null }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
    await deleteExpiredSignupRequests(db, ctx.now);
    const existing = await findUserByEmail(db, email);
    if (existing) {
      await audit.record(db, audited, { action: 'user.signup_requested', target: { type: 'user', id: existing.id, name: email }, details: { existingAccount: true } });
      await mailer.send(composeMail(email, 'signup_account_exists', { signInUrl: this.deps.publicUrl }));
      return;
    }
    const token = newToken('sgn');
    await db.transaction().execute(async (trx) => {
      await insertSignupRequest(trx, { digest: tokenDigest(token), orgId: target.org.id, email, passwordHash, now: ctx.now, expiresAt: ctx.now + SIGNUP_TTL_MS });
      await audit.record(trx, audited, { action: 'user.signup_requested', target: { type: 'user', id: null, name: email }, details: { existingAccount: false } });
    });
    const link = `${this.deps.publicUrl}/signup/verify?token=${token}`;
    await mailer.send(composeMail(email, 'signup_verification', { orgName: target.org.name, link, code: token, expiresInHours: SIGNUP_TTL_MS / 3_600_000 }));
  }
}

function invalidSignup(message = 'This sign-up link is invalid, already used or expired; sign up again'): AppError {
  return new AppError('invalid_signup_token', message);
}
