import { canGrant } from '../access/policy.js';
import type { OrgQuotas } from './quotas.js';
import { signedInUser } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import { auditContextOf, iso, type AnonymousContext, type RequestContext } from '../context.js';
import { constantTimeEqual, newId, newToken, tokenDigest, tokenKind } from '../crypto/random.js';
import type { Mailer } from '../email/mailer.js';
import { composeMail } from '../email/templates.js';
import { AppError, notFound } from '../errors.js';
import { normalizeEmail } from '../identity/service.js';
import { resolveRoleRef } from '../roles/assign.js';
import { customRoleOf, isMemberRole, type MemberRole, type RoleRef } from '../roles/rules.js';
import type { Db } from '../storage/database.js';
import { findInvitationByDigest, insertInvitation, isMemberByEmail, listPendingInvitations, markAccepted, revokeInvitations } from './invitation-store.js';
import type { OrgService } from './service.js';

export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

export interface InvitationInfo {
  id: string;
  email: string;
  /** A built-in role, or `custom` (then `customRole` names it). */
  role: MemberRole;
  customRole: { id: string; name: string } | null;
  /** Null once the inviting user no longer exists. */
  invitedBy: { id: string; email: string } | null;
  createdAt: string;
  expiresAt: string;
}

/** A live invitation, as its acceptance needs it (identity/signup.ts turns it into a member). */
export interface LiveInvitation {
  id: string;
  orgId: string;
  orgName: string;
  email: string;
  role: MemberRole;
  /** The custom role given, when `role` is `custom`. */
  roleId: string | null;
}

/**
 * Invitations into an organization (issue 3; issue 4's member management grows from here).
 * Invariants:
 * - the token is mailed to the invitee only, never answered to the inviter, and stored only as its
 *   SHA-256 digest: whoever accepts has read that mailbox, which is why acceptance marks the address
 *   verified;
 * - an invitation works once, for 7 days, unless revoked; inviting the same address again revokes
 *   the pending one (one live invitation per address and org);
 * - nobody invites with a role (built-in or custom) whose permissions they do not all hold
 *   themselves (`canGrant`): only an owner invites an owner;
 * - inviting someone who is already a member is refused (409): the inviter manages members, so this
 *   tells them nothing they may not know;
 * - every change is audited in its own transaction, without the token.
 */
export class InvitationService {
  constructor(private readonly deps: { db: Db; audit: AuditService; mailer: Mailer; orgs: Pick<OrgService, 'getOrg'>; quotas: Pick<OrgQuotas, 'assertRoom'>; publicUrl: string }) {}

  async create(ctx: RequestContext, input: { email: string; role: RoleRef }): Promise<InvitationInfo> {
    const inviter = signedInUser(ctx);
    const email = normalizeEmail(input.email);
    const token = newToken('inv');
    const id = newId('inv');
    const expiresAt = ctx.now + INVITATION_TTL_MS;
    const wanted = await this.deps.db.transaction().execute(async (trx) => {
      const wanted = await resolveRoleRef(trx, inviter.orgId, input.role);
      if (!canGrant(inviter.access, wanted.rules)) {
        throw new AppError('role_not_grantable', `You cannot invite someone as ${wanted.name}: that role holds permissions yours does not (only an owner invites owners)`);
      }
      if (await isMemberByEmail(trx, inviter.orgId, email)) throw new AppError('already_member', 'This address already belongs to a member of the organization');
      const replaced = await revokeInvitations(trx, inviter.orgId, { email }, ctx.now);
      for (const old of replaced) {
        await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'invitation.revoke', target: { type: 'invitation', id: old, name: email }, details: { reason: 'replaced', by: id } });
      }
      // A pending invitation holds a member's seat of the plan (the one it replaced gave its own back).
      await this.deps.quotas.assertRoom(trx, inviter.orgId, 'members', 1, ctx.now);
      await insertInvitation(trx, { id, orgId: inviter.orgId, email, role: wanted.role, roleId: wanted.roleId, digest: tokenDigest(token), invitedBy: inviter.userId, now: ctx.now, expiresAt });
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'invitation.create',
        target: { type: 'invitation', id, name: email },
        details: { role: wanted.label, expiresAt: iso(expiresAt) },
      });
      return wanted;
    });
    const org = await this.deps.orgs.getOrg(inviter.orgId);
    const link = `${this.deps.publicUrl}/accept-invitation?token=${token}`;
    // Not awaited, like every mail: a slow mail server must not fail the invitation (the mailer logs
    // a failure without the content; inviting again sends a new link and voids this one).
    this.deps.mailer
      .send(composeMail(email, 'invitation', { orgName: org?.name ?? '', inviterEmail: inviter.email, link, code: token, expiresInDays: INVITATION_TTL_MS / 86_400_000 }))
      .catch(() => {});
    const customRole = wanted.roleId === null ? null : { id: wanted.roleId, name: wanted.name };
    return { id, email, role: wanted.role, customRole, invitedBy: { id: inviter.userId, email: inviter.email }, createdAt: iso(ctx.now), expiresAt: iso(expiresAt) };
  }

  /** The org's invitations that can still be accepted; never their tokens (only digests are kept). */
  async list(ctx: RequestContext): Promise<InvitationInfo[]> {
    const rows = await listPendingInvitations(this.deps.db, ctx.principal.orgId, ctx.now);
    return rows.map((r) => ({
      id: r.id,
      email: r.email,
      role: isMemberRole(r.role) ? r.role : 'viewer',
      customRole: customRoleOf(r),
      invitedBy: r.invited_by !== null && r.inviter_email !== null ? { id: r.invited_by, email: r.inviter_email } : null,
      createdAt: iso(r.created_at),
      expiresAt: iso(r.expires_at),
    }));
  }

  /** Revokes an invitation of the caller's org that was not accepted; anything else is not found. */
  async revoke(ctx: RequestContext, id: string): Promise<void> {
    await this.deps.db.transaction().execute(async (trx) => {
      const revoked = await revokeInvitations(trx, ctx.principal.orgId, { id }, ctx.now);
      if (revoked.length === 0) throw notFound('invitation');
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'invitation.revoke', target: { type: 'invitation', id }, details: { reason: 'revoked' } });
    });
  }

  /** The invitation a token stands for, if it can still be accepted; else 400 invalid_invitation_token. */
  async findLive(token: string, now: number): Promise<LiveInvitation> {
    // A token of another kind (a reset link, a session) is refused without a query.
    if (tokenKind(token) !== 'inv') throw invalidInvitation();
    const digest = tokenDigest(token);
    const row = await findInvitationByDigest(this.deps.db, digest);
    if (!row || !constantTimeEqual(row.token_digest, digest)) throw invalidInvitation();
    // A custom role gone (a role is deleted only once no live invitation gives it): fail closed.
    if (row.accepted_at !== null || row.revoked_at !== null || row.expires_at <= now || !isMemberRole(row.role) || (row.role === 'custom') !== (row.role_id !== null)) throw invalidInvitation();
    return { id: row.id, orgId: row.org_id, orgName: row.org_name, email: row.email, role: row.role, roleId: row.role_id };
  }

  /**
   * Marks the invitation accepted by `userId`, inside the acceptor's transaction (the membership is
   * added there too), with its audit record. Of two acceptances racing, or an acceptance racing a
   * revocation, only one wins; the loser gets invalid_invitation_token and its transaction rolls back.
   */
  async claim(trx: Db, invitation: LiveInvitation, who: { userId: string; newAccount: boolean }, ctx: AnonymousContext): Promise<void> {
    if (!(await markAccepted(trx, invitation.id, who.userId, ctx.now))) throw invalidInvitation();
    const audited = { orgId: invitation.orgId, actor: { type: 'user' as const, id: who.userId }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
    await this.deps.audit.record(trx, audited, {
      action: 'invitation.accept',
      target: { type: 'invitation', id: invitation.id, name: invitation.email },
      details: { role: invitation.roleId ?? invitation.role, newAccount: who.newAccount },
    });
  }
}

function invalidInvitation(): AppError {
  return new AppError('invalid_invitation_token', 'This invitation is invalid, already used, revoked or expired; ask for a new one');
}
