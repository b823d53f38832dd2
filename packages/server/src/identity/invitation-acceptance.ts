import type { AuditService } from '../audit/service.js';
import type { AnonymousContext } from '../context.js';
import { hashPassword, verifyPassword } from '../crypto/passwords.js';
import { AppError } from '../errors.js';
import type { InvitationService, LiveInvitation } from '../orgs/invitations.js';
import { isUniqueViolation } from '../storage/dialect.js';
import type { Db } from '../storage/database.js';
import { createMember } from './new-member.js';
import type { IdentityService, SignedIn } from './service.js';
import type { SessionService } from './sessions.js';
import { findUserByEmail, isMember, markEmailVerified } from './signup-store.js';
import * as store from './store.js';
import type { LoginThrottle } from './throttle.js';
import type { SecondFactor, TwoFactorService } from './two-factor.js';

export interface AcceptInput extends SecondFactor {
  token: string;
  password: string;
  rememberMe?: boolean | undefined;
}

/**
 * Sign-up by invitation: the mailed token (orgs/invitations.ts) becomes a membership with the role
 * chosen at invite. Invariants:
 * - an address without an account gets one, with the password given here (it must pass the org's
 *   policy) and the email marked verified: the token reached only that mailbox;
 * - an address that has an account joins with that account, and only with its password (and a
 *   current code when it has 2FA): the invitation proves the mailbox, not who may sign in as its
 *   owner. That check is throttled and counted like a sign-in (locks, 423/429), so the public
 *   route is no way around the sign-in lock;
 * - either way the answer is a session in the inviting org, like a sign-in's;
 * - the invitation is claimed in the same transaction as the membership, so it works once.
 */
export class InvitationAcceptance {
  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      invitations: Pick<InvitationService, 'findLive' | 'claim'>;
      identity: Pick<IdentityService, 'assertAcceptablePassword' | 'admitAttempt' | 'failedAttempt'>;
      sessions: Pick<SessionService, 'create' | 'announceRevoked'>;
      twoFactor: Pick<TwoFactorService, 'verifyAtSignIn'>;
      throttle: Pick<LoginThrottle, 'admitRequest' | 'recordSuccess' | 'refund'>;
    },
  ) {}

  async accept(input: AcceptInput, ctx: AnonymousContext): Promise<SignedIn> {
    await this.deps.throttle.admitRequest('invitation-accept', '', ctx.ip);
    return this.#accept(input, ctx, false);
  }

  async #accept(input: AcceptInput, ctx: AnonymousContext, retried: boolean): Promise<SignedIn> {
    const invitation = await this.deps.invitations.findLive(input.token, ctx.now);
    const existing = await findUserByEmail(this.deps.db, invitation.email);
    if (existing) return this.#acceptAsExisting(invitation, existing, input, ctx);
    await this.deps.identity.assertAcceptablePassword(input.password, { email: invitation.email, orgName: invitation.orgName }, invitation.orgId);
    const passwordHash = await hashPassword(input.password);
    try {
      return await this.deps.db.transaction().execute(async (trx) => {
        const member = { email: invitation.email, passwordHash, org: { id: invitation.orgId, name: invitation.orgName }, role: invitation.role, roleId: invitation.roleId, method: 'invitation' as const };
        const signedIn = await createMember(trx, this.deps, member, ctx, { rememberMe: input.rememberMe === true });
        await this.deps.invitations.claim(trx, invitation, { userId: signedIn.user.id, newAccount: true }, ctx);
        return signedIn;
      });
    } catch (err) {
      // The address got an account between the lookup and the insert (a sign-up link used at the
      // same moment): accept again, now as that account, which needs its password.
      if (isUniqueViolation(err) && !retried) return this.#accept(input, ctx, true);
      throw err;
    }
  }

  async #acceptAsExisting(invitation: LiveInvitation, user: { id: string; email: string; password_hash: string }, input: AcceptInput, ctx: AnonymousContext): Promise<SignedIn> {
    const { identity, throttle, audit } = this.deps;
    // Only the invitee can read the token, so saying this costs nothing, and it spends no attempt.
    if (await isMember(this.deps.db, invitation.orgId, user.id)) throw new AppError('already_member', 'You are already a member of this organization: sign in');
    await identity.admitAttempt(user.email, ctx);
    if (!(await verifyPassword(user.password_hash, input.password))) {
      await identity.failedAttempt(user.email, { orgId: invitation.orgId, userId: user.id }, 'wrong_password', ctx, 'invitation.accept');
      throw new AppError('invalid_credentials', 'An account with this email exists: accept with its password');
    }
    const org = { id: invitation.orgId, name: invitation.orgName };
    let result;
    try {
      result = await this.deps.db.transaction().execute(async (trx) => {
        const secondFactor = await this.deps.twoFactor.verifyAtSignIn(trx, user.id, input, ctx.now);
        await this.deps.invitations.claim(trx, invitation, { userId: user.id, newAccount: false }, ctx);
        await store.insertMembership(trx, { orgId: org.id, userId: user.id, role: invitation.role, roleId: invitation.roleId, now: ctx.now });
        await markEmailVerified(trx, user.id, ctx.now);
        await throttle.recordSuccess(trx, user.email, ctx.ip);
        const session = await this.deps.sessions.create(trx, { orgId: org.id, userId: user.id }, ctx, { rememberMe: input.rememberMe === true, secondFactor });
        const who = { orgId: org.id, actor: { type: 'user' as const, id: user.id, name: invitation.email }, ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId, now: ctx.now };
        await audit.record(trx, who, { action: 'session.create', target: { type: 'session', id: session.id }, details: { method: 'invitation', secondFactor, rememberMe: input.rememberMe === true } });
        if (secondFactor === 'backup_code') await audit.record(trx, who, { action: '2fa.backup_code_used', target: { type: 'user', id: user.id } });
        return { session, signedIn: { user: { id: user.id, email: user.email }, org, ...session.credentials } };
      });
    } catch (err) {
      // As at sign-in: a wrong code counts towards the lock. Anything else (a missing code, an
      // invitation revoked meanwhile) came after the right password, so it costs nothing.
      if (err instanceof AppError && err.code === 'invalid_two_factor_code') await identity.failedAttempt(user.email, { orgId: org.id, userId: user.id }, 'wrong_second_factor', ctx, 'invitation.accept');
      else await throttle.refund(user.email, ctx.ip);
      throw err;
    }
    this.deps.sessions.announceRevoked(result.session.evicted);
    return result.signedIn;
  }
}
