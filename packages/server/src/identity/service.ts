import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { signedInUser, type UserPrincipal } from '../access/principal.js';
import type { SensitiveStrings } from '../audit/sensitive.js';
import type { AuditService } from '../audit/service.js';
import { auditContextOf } from '../context.js';
import type { AnonymousContext, RequestContext } from '../context.js';
import { hashPassword, needsRehash, verifyPassword } from '../crypto/passwords.js';
import { constantTimeEqual, newId, newToken, tokenDigest } from '../crypto/random.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { OrgService } from '../orgs/service.js';
import { isUniqueViolation } from '../storage/dialect.js';
import type { Db } from '../storage/database.js';
import { PasswordChecker, type PasswordPolicy } from './password-policy.js';
import type { SessionCredentials, SessionService } from './sessions.js';
import { deleteSetting, getSetting, insertSetting, OPERATOR_ORG_SETTING, putSetting } from './settings-store.js';
import * as store from './store.js';
import type { SecurityNotices } from './notices.js';
import type { LoginThrottle } from './throttle.js';
import { parseUserAgent } from './user-agent.js';
import type { SecondFactor, TwoFactorService } from './two-factor.js';

const SETUP_DONE = 'setup_completed';
const SETUP_TOKEN_DIGEST = 'setup_token_digest';
const MAX_CHECKERS = 8;

export interface SignedIn extends SessionCredentials {
  user: { id: string; email: string };
  org: { id: string; name: string };
}

export interface IdentityDeps {
  db: Db;
  orgs: OrgService;
  audit: AuditService;
  /** Keyed digests of what callers typed as their sign-in name (audit/sensitive.ts). */
  sensitive: SensitiveStrings;
  log: Logger;
  sessions: SessionService;
  throttle: LoginThrottle;
  /** The deployment's policy; an org may tighten it (OrgService.passwordPolicy). */
  passwordPolicy: PasswordPolicy;
  twoFactor: TwoFactorService;
  notices: SecurityNotices;
  /** Where the one-time setup token is written for the operator (mode 0600) until it is used. */
  setupTokenFile: string | null;
}

/**
 * Users, passwords and sessions. Invariants:
 * - passwords are stored only as argon2id hashes; session and setup tokens only as SHA-256 digests;
 * - a failed sign-in says only "invalid credentials", and costs one argon2 verification whether or
 *   not the account exists (no user enumeration by answer or by time);
 * - sign-in is throttled before any password is checked (`LoginThrottle`): locked and rate-limited
 *   answers are the same whether the password was right and whether the account exists;
 * - setup happens once: a latch row is inserted in the setup transaction, so a second setup fails.
 */
export class IdentityService {
  /** Started at construction so the first sign-in of an unknown account costs no more than others. */
  readonly #dummyHash: Promise<string>;
  /** One checker per distinct policy in use (the deployment's, and any an org tightened). */
  readonly #checkers = new Map<string, PasswordChecker>();

  constructor(private readonly deps: IdentityDeps) {
    this.#dummyHash = hashPassword(newToken('setup'));
  }

  async isSetUp(): Promise<boolean> {
    return (await getSetting(this.deps.db, SETUP_DONE)) !== undefined;
  }

  /**
   * On a fresh instance, makes a new one-time setup token, keeps its digest, writes it to the
   * setup-token file and returns it so the operator can be told. Returns null once set up.
   */
  async prepareSetup(now: number): Promise<string | null> {
    if (await this.isSetUp()) {
      this.#removeSetupTokenFile();
      return null;
    }
    const token = newToken('setup');
    await putSetting(this.deps.db, SETUP_TOKEN_DIGEST, tokenDigest(token), now);
    if (this.deps.setupTokenFile) {
      writeFileSync(this.deps.setupTokenFile, `${token}\n`, { mode: 0o600 });
      chmodSync(this.deps.setupTokenFile, 0o600);
    }
    return token;
  }

  async setup(
    input: { setupToken: string; email: string; password: string; orgName: string },
    ctx: AnonymousContext,
  ): Promise<SignedIn> {
    const email = normalizeEmail(input.email);
    // Checked before the (deliberately expensive) hash so that nobody can make an instance that is
    // already set up, or a caller without the token, burn CPU; checked again inside the transaction.
    await this.#assertSetupAllowed(this.deps.db, input.setupToken);
    await this.assertAcceptablePassword(input.password, { email, orgName: input.orgName }, null);
    const passwordHash = await hashPassword(input.password);
    let result: SignedIn;
    try {
      result = await this.deps.db.transaction().execute(async (trx) => {
        await this.#assertSetupAllowed(trx, input.setupToken);
        await insertSetting(trx, SETUP_DONE, String(ctx.now), ctx.now);
        await deleteSetting(trx, SETUP_TOKEN_DIGEST);
        const org = await this.deps.orgs.createOrg(trx, input.orgName.trim(), ctx.now);
        // Its owners operate the instance (orgs/quotas.ts: setting plans).
        await putSetting(trx, OPERATOR_ORG_SETTING, org.id, ctx.now);
        const userId = newId('usr');
        await store.insertUser(trx, { id: userId, email, passwordHash, now: ctx.now });
        await store.insertMembership(trx, { orgId: org.id, userId, role: 'owner', now: ctx.now });
        const session = await this.deps.sessions.create(trx, { orgId: org.id, userId }, ctx, { rememberMe: false });
        const audit = { orgId: org.id, actor: { type: 'user' as const, id: userId }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
        await this.deps.audit.record(trx, audit, { action: 'instance.setup', target: { type: 'org', id: org.id, name: org.name }, details: { email } });
        await this.deps.audit.record(trx, audit, { action: 'session.create', target: { type: 'session', id: session.id }, details: { method: 'setup' } });
        return { user: { id: userId, email }, org, ...session.credentials };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('already_set_up', 'This KeyNest instance is already set up');
      throw err;
    }
    this.#removeSetupTokenFile();
    return result;
  }

  async login(input: { email: string; password: string; rememberMe?: boolean; org?: string } & SecondFactor, ctx: AnonymousContext): Promise<SignedIn> {
    const email = normalizeEmail(input.email);
    const { throttle, audit } = this.deps;
    await this.admitAttempt(email, ctx);
    const user = await store.findUserWithMembership(this.deps.db, email);
    // Unknown accounts verify against a dummy hash, so both paths cost one argon2 verification.
    const ok = await verifyPassword(user?.password_hash ?? (await this.#dummy()), input.password);
    if (!user || !ok) {
      await this.failedAttempt(email, { orgId: user?.org_id ?? null, userId: user?.id ?? null }, user ? 'wrong_password' : 'unknown_account', ctx);
      throw new AppError('invalid_credentials', 'Invalid credentials');
    }
    // A member of several organizations names the one to sign in to; by default, the first joined.
    const named = input.org === undefined ? { id: user.org_id, name: user.org_name } : await store.findMemberOrg(this.deps.db, user.id, input.org);
    // Said only to whoever also passed the second factor (below): membership is the account's business.
    const org = named ?? { id: user.org_id, name: user.org_name };
    const upgraded = needsRehash(user.password_hash) ? await hashPassword(input.password) : null;
    const who = { orgId: org.id, actor: { type: 'user' as const, id: user.id, name: user.email }, ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId, now: ctx.now };
    let result;
    try {
      result = await this.deps.db.transaction().execute(async (trx) => {
        const secondFactor = await this.deps.twoFactor.verifyAtSignIn(trx, user.id, input, ctx.now);
        if (!named) throw new AppError('not_a_member', 'You are not a member of that organization');
        const knownDevice = await store.hasSessionFrom(trx, user.id, ctx.ip, ctx.userAgent?.slice(0, 512) ?? null);
        const backupCodesLeft = secondFactor === 'backup_code' ? await this.deps.twoFactor.remainingBackupCodes(trx, user.id) : null;
        if (upgraded) await store.updatePasswordHash(trx, user.id, upgraded);
        await throttle.recordSuccess(trx, email, ctx.ip);
        const session = await this.deps.sessions.create(trx, { orgId: org.id, userId: user.id }, ctx, { rememberMe: input.rememberMe === true, secondFactor });
        const details = { method: 'password', secondFactor, rehashed: upgraded !== null, rememberMe: input.rememberMe === true };
        await audit.record(trx, who, { action: 'session.create', target: { type: 'session', id: session.id }, details });
        if (secondFactor === 'backup_code') await audit.record(trx, who, { action: '2fa.backup_code_used', target: { type: 'user', id: user.id } });
        return { session, knownDevice, backupCodesLeft, signedIn: { user: { id: user.id, email: user.email }, org, ...session.credentials } };
      });
    } catch (err) {
      // A wrong second factor counts towards the lock like a wrong password (it is the same guessing);
      // a missing one costs nothing (the client now asks for the code).
      if (err instanceof AppError && err.code === 'invalid_two_factor_code') await this.failedAttempt(email, { orgId: org.id, userId: user.id }, 'wrong_second_factor', ctx);
      // Asking for the code, or for an org one is not in, after the right password is no failed guess.
      if (err instanceof AppError && (err.code === 'two_factor_required' || err.code === 'not_a_member')) await throttle.refund(email, ctx.ip);
      throw err;
    }
    this.deps.sessions.announceRevoked(result.session.evicted);
    const at = new Date(ctx.now);
    if (!result.knownDevice) this.deps.notices.send(user.email, 'new_sign_in', { at, ip: ctx.ip, location: result.session.location, device: describeDevice(ctx.userAgent) });
    if (result.backupCodesLeft !== null) this.deps.notices.send(user.email, 'backup_code_used', { at, ip: ctx.ip, remaining: result.backupCodesLeft });
    return result.signedIn;
  }

  /**
   * Charges one attempt against the throttle (429/423). A lock set here, by a burst of attempts, is
   * audited in the same transaction and mailed to the account's owner like any other lock.
   */
  async admitAttempt(email: string, ctx: { ip: string | null; requestId: string; now: number }): Promise<void> {
    let locked: { until: number; userId: string | null } | null = null;
    try {
      await this.deps.throttle.admit(email, ctx.ip, ctx.now, async (trx, until) => {
        const user = await store.findUserWithMembership(trx, email);
        locked = { until, userId: user?.id ?? null };
        const audited = { orgId: user?.org_id ?? null, actor: { type: 'anonymous' as const, id: null }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
        await this.deps.audit.record(trx, audited, { action: 'account.lock', target: { type: 'user', id: user?.id ?? null }, details: { login: this.deps.sensitive.login(email), lockedUntil: new Date(until).toISOString(), burst: true } });
      });
    } finally {
      const l = locked as { until: number; userId: string | null } | null;
      if (l && l.userId !== null) this.deps.notices.send(email, 'account_locked', { lockedUntil: new Date(l.until), ip: ctx.ip });
    }
  }

  /**
   * Records a failed attempt (already charged by `admitAttempt`): the audit records commit with
   * the lock, if this failure set one. `action` names what was attempted.
   */
  async failedAttempt(email: string, who: { orgId: string | null; userId: string | null }, reason: string, ctx: AnonymousContext, action = 'session.create'): Promise<void> {
    const { throttle, audit } = this.deps;
    const audited = { orgId: who.orgId, actor: { type: 'anonymous' as const, id: null }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
    const target = { type: 'user', id: who.userId };
    // What was typed as the sign-in name, as a keyed digest: groups an unknown account's failures
    // without keeping the text (which is sometimes the password, typed in the wrong field).
    const login = this.deps.sensitive.login(email);
    const failure = await throttle.recordFailure(email, reason, ctx.now, async (trx, outcome) => {
      await audit.record(trx, audited, { action, outcome: 'failure', target, details: { login, reason, failures: outcome.failures } });
      if (outcome.lockedUntil !== null) {
        await audit.record(trx, audited, { action: 'account.lock', target, details: { login, lockedUntil: new Date(outcome.lockedUntil).toISOString(), failures: outcome.failures } });
      }
    });
    // Only a real account has someone to tell; an unknown email locks silently.
    if (failure.lockedUntil !== null && who.userId !== null) this.deps.notices.send(email, 'account_locked', { lockedUntil: new Date(failure.lockedUntil), ip: ctx.ip });
  }

  /**
   * Proves the user again on the current session (password, and a code when 2FA is on), so that
   * step-up routes accept it for the next KEYNEST_STEP_UP_S. Throttled like a sign-in.
   */
  async reauthenticate(ctx: RequestContext, input: { password: string } & SecondFactor): Promise<void> {
    const p = signedInUser(ctx);
    const anon = { ip: ctx.ip, userAgent: null, requestId: ctx.requestId, now: ctx.now };
    await this.admitAttempt(p.email, ctx);
    await this.#verifyCurrentPassword(p, input.password, anon, 'reauth_wrong_password');
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        const secondFactor = await this.deps.twoFactor.verifyAtSignIn(trx, p.userId, input, ctx.now);
        await this.deps.throttle.recordSuccess(trx, p.email, ctx.ip);
        await this.deps.sessions.markAuthenticated(trx, p.sessionId, ctx.now);
        await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'session.reauth', target: { type: 'session', id: p.sessionId }, details: { secondFactor } });
      });
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_two_factor_code') await this.failedAttempt(p.email, { orgId: p.orgId, userId: p.userId }, 'reauth_wrong_second_factor', anon);
      if (err instanceof AppError && err.code === 'two_factor_required') await this.deps.throttle.refund(p.email, ctx.ip);
      throw err;
    }
    this.deps.sessions.announceChanged(p.sessionId);
  }

  /**
   * Changes the caller's password: the current one is required (throttled like a sign-in), the new
   * one must pass the policy, and every other session of the user in this org ends.
   */
  async changePassword(ctx: RequestContext, input: { currentPassword: string; newPassword: string }): Promise<{ otherSessionsEnded: number }> {
    const p = signedInUser(ctx);
    const anon = { ip: ctx.ip, userAgent: null, requestId: ctx.requestId, now: ctx.now };
    // The policy first: a weak new password must not count as a failed attempt against the lock.
    const org = await this.deps.orgs.getOrg(p.orgId);
    await this.assertAcceptablePassword(input.newPassword, { email: p.email, ...(org ? { orgName: org.name } : {}) }, p.orgId);
    await this.admitAttempt(p.email, ctx);
    await this.#verifyCurrentPassword(p, input.currentPassword, anon, 'password_change_wrong_password');
    const passwordHash = await hashPassword(input.newPassword);
    const ended = await this.deps.db.transaction().execute(async (trx) => {
      await store.updatePasswordHash(trx, p.userId, passwordHash);
      // A reset link mailed earlier must not undo the change.
      await store.voidUserTokens(trx, p.userId, 'password_reset', ctx.now);
      await this.deps.throttle.recordSuccess(trx, p.email, ctx.ip);
      const live = await store.listLiveSessions(trx, p.orgId, p.userId, ctx.now);
      const others = await store.revokeUserSessions(trx, p.orgId, p.userId, live.map((s) => s.id).filter((id) => id !== p.sessionId), ctx.now);
      await this.deps.sessions.markAuthenticated(trx, p.sessionId, ctx.now);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'password.change', target: { type: 'user', id: p.userId }, details: { otherSessionsEnded: others.length } });
      return others;
    });
    this.deps.sessions.announceRevoked(ended);
    this.deps.sessions.announceChanged(p.sessionId);
    this.deps.notices.send(p.email, 'password_changed', { at: new Date(ctx.now), ip: ctx.ip });
    return { otherSessionsEnded: ended.length };
  }

  async #verifyCurrentPassword(p: UserPrincipal, password: string, ctx: AnonymousContext, reason: string): Promise<void> {
    const user = await store.findUserWithMembership(this.deps.db, p.email);
    const ok = user !== undefined && (await verifyPassword(user.password_hash, password));
    if (!ok) {
      await this.failedAttempt(p.email, { orgId: p.orgId, userId: p.userId }, reason, ctx);
      throw new AppError('invalid_credentials', 'Invalid credentials');
    }
  }

  /** Throws 400 weak_password naming the rule a new password breaks (never the password itself). */
  async assertAcceptablePassword(password: string, context: { email: string; orgName?: string; name?: string }, orgId: string | null): Promise<void> {
    const policy = orgId === null ? this.deps.passwordPolicy : await this.deps.orgs.passwordPolicy(orgId);
    const key = JSON.stringify(policy);
    let checker = this.#checkers.get(key);
    if (!checker) {
      // Bounded: a few policies are in use at a time; an admin cycling values must not grow memory.
      if (this.#checkers.size >= MAX_CHECKERS) this.#checkers.clear();
      this.#checkers.set(key, (checker = new PasswordChecker(policy)));
    }
    const problem = checker.check(password, context);
    if (problem) {
      const { message, ...details } = problem;
      throw new AppError('weak_password', message, details);
    }
  }

  async logout(ctx: RequestContext): Promise<void> {
    const p = ctx.principal;
    if (p.type !== 'user') throw new AppError('forbidden', 'Only a signed-in user has a session to end');
    await this.deps.sessions.revoke(ctx, p.sessionId, 'logout');
  }

  async #assertSetupAllowed(db: Db, setupToken: string): Promise<void> {
    if (await getSetting(db, SETUP_DONE)) throw new AppError('already_set_up', 'This KeyNest instance is already set up');
    const stored = await getSetting(db, SETUP_TOKEN_DIGEST);
    if (!stored || !constantTimeEqual(stored.value, tokenDigest(setupToken))) throw new AppError('invalid_setup_token', 'Invalid setup token');
  }

  #dummy(): Promise<string> {
    return this.#dummyHash;
  }

  #removeSetupTokenFile(): void {
    if (this.deps.setupTokenFile) rmSync(this.deps.setupTokenFile, { force: true });
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}


function describeDevice(userAgent: string | null): string {
  const d = parseUserAgent(userAgent);
  return [d.browser, d.os && `on ${d.os}`].filter(Boolean).join(' ') || 'an unknown device';
}
