import { isRole, ROLE_PERMISSIONS, type Role } from '../access/permissions.js';
import { canGrantRole } from '../access/policy.js';
import { signedInUser, type UserPrincipal } from '../access/principal.js';
import type { ApiTokenService } from '../access/service.js';
import type { AuditService } from '../audit/service.js';
import type { Invalidation } from '../cache.js';
import { auditContextOf, iso, isoOrNull, type RequestContext } from '../context.js';
import { AppError } from '../errors.js';
import type { SessionService } from '../identity/sessions.js';
import type { Db } from '../storage/database.js';
import { countOwners, deleteMembership, findMember, listLiveSecretKeys, listMembers, lockMemberships, updateMemberRole } from './member-store.js';

export interface MemberInfo {
  userId: string;
  email: string;
  role: Role;
  joinedAt: string;
  twoFactorEnabled: boolean;
  /** The newest activity of the member's sessions in this org (to the minute); null if none. */
  lastActiveAt: string | null;
}

export interface SecretAddress {
  project: string;
  environment: string;
  key: string;
}

export interface MemberRemoval {
  revokedSessions: number;
  revokedTokens: number;
  /** The secrets the member could read the values of: rotate them. Keys only, never values. */
  readableSecrets: SecretAddress[];
}

/**
 * The members of an organization (issue 4). Invariants:
 * - a member is seen and changed only within the caller's org: an unknown user and another org's
 *   member are answered alike (404 member_not_found), so ids say nothing across tenants;
 * - nobody gives a role holding a permission they do not hold (`canGrantRole`), nor changes or
 *   removes someone whose current role they could not give (an admin cannot demote an owner);
 *   changing or removing oneself follows the same rules;
 * - an org always keeps at least one owner (409 last_owner), checked with the org's memberships
 *   locked so that two owners demoting each other cannot both succeed;
 * - every change is audited in its own transaction (role before and after; on removal the role,
 *   counts and nothing secret), and announced once committed: a changed member's cached sessions
 *   see the new role at their next request; a removed member's sessions and API tokens in the org
 *   are revoked in the same transaction and stop working at once.
 */
export class MemberService {
  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      invalidation: Invalidation;
      sessions: Pick<SessionService, 'revokeAllInOrg' | 'announceRevoked'>;
      tokens: Pick<ApiTokenService, 'revokeCreatedBy' | 'announceRevoked'>;
    },
  ) {}

  async list(ctx: RequestContext): Promise<MemberInfo[]> {
    const rows = await listMembers(this.deps.db, ctx.principal.orgId);
    return rows.map((r) => ({
      userId: r.user_id,
      email: r.email,
      // A role stored otherwise (by hand) reads as the least one, as it does for sign-ins.
      role: isRole(r.role) ? r.role : 'viewer',
      joinedAt: iso(r.created_at),
      twoFactorEnabled: r.totp_state === 'active',
      lastActiveAt: isoOrNull(r.last_active_at === null ? null : Number(r.last_active_at)),
    }));
  }

  async changeRole(ctx: RequestContext, userId: string, role: Role): Promise<MemberInfo> {
    const caller = signedInUser(ctx);
    const orgId = caller.orgId;
    await this.deps.db.transaction().execute(async (trx) => {
      const { role: before, callerRole } = await this.#manageable(trx, caller, userId);
      if (!canGrantRole(callerRole, role)) {
        throw new AppError('role_not_grantable', `You cannot give the role ${role}: it holds permissions yours does not (only an owner makes owners)`);
      }
      if (before === role) return;
      if (before === 'owner') await this.#keepAnOwner(trx, orgId);
      await updateMemberRole(trx, orgId, userId, role);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'member.role_change',
        target: { type: 'user', id: userId },
        details: { before, after: role },
      });
    });
    // Cached session rows carry the role: drop them so the member's next request reads the new one.
    this.deps.invalidation.publish({ type: 'user.changed', userId });
    const changed = (await this.list(ctx)).find((m) => m.userId === userId);
    if (!changed) throw memberNotFound();
    return changed;
  }

  async remove(ctx: RequestContext, userId: string): Promise<MemberRemoval> {
    const caller = signedInUser(ctx);
    const orgId = caller.orgId;
    const { sessions, tokens } = this.deps;
    const done = await this.deps.db.transaction().execute(async (trx) => {
      const { role } = await this.#manageable(trx, caller, userId);
      if (role === 'owner') await this.#keepAnOwner(trx, orgId);
      await deleteMembership(trx, orgId, userId);
      const revokedSessions = await sessions.revokeAllInOrg(trx, orgId, userId, ctx.now);
      const revokedTokens = await tokens.revokeCreatedBy(trx, orgId, userId, ctx.now);
      // Read inside the transaction: the list matches the org as it was when they left.
      const readableSecrets = ROLE_PERMISSIONS[role].has('secret:read_values') ? await listLiveSecretKeys(trx, orgId) : [];
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'member.remove',
        target: { type: 'user', id: userId },
        details: { role, self: userId === caller.userId, revokedSessions: revokedSessions.length, revokedTokens: revokedTokens.length, readableSecrets: readableSecrets.length },
      });
      return { revokedSessions, revokedTokens, readableSecrets };
    });
    sessions.announceRevoked(done.revokedSessions);
    tokens.announceRevoked(done.revokedTokens);
    this.deps.invalidation.publish({ type: 'user.changed', userId });
    return {
      revokedSessions: done.revokedSessions.length,
      revokedTokens: done.revokedTokens.length,
      readableSecrets: done.readableSecrets.map((s) => ({ project: s.project, environment: s.environment, key: s.key })),
    };
  }

  /**
   * The current role of a member the caller may change or remove, and the caller's own. Locks the
   * org's memberships first, so both are the roles the change applies under: the caller's role is
   * read again rather than taken from the request's principal, which was resolved before the lock
   * (a caller demoted by a change that committed meanwhile acts with their new role).
   */
  async #manageable(trx: Db, caller: UserPrincipal, userId: string): Promise<{ role: Role; callerRole: Role }> {
    await lockMemberships(trx, caller.orgId);
    const self = await findMember(trx, caller.orgId, caller.userId);
    if (!self || !isRole(self.role)) throw new AppError('forbidden', 'You are no longer a member of this organization');
    const member = await findMember(trx, caller.orgId, userId);
    if (!member) throw memberNotFound();
    const role: Role = isRole(member.role) ? member.role : 'viewer';
    if (!canGrantRole(self.role, role)) {
      throw new AppError('role_not_grantable', `You cannot change or remove a member who is ${role}: that role holds permissions yours does not`);
    }
    return { role, callerRole: self.role };
  }

  async #keepAnOwner(trx: Db, orgId: string): Promise<void> {
    if ((await countOwners(trx, orgId)) <= 1) {
      throw new AppError('last_owner', 'This is the organization’s last owner: make another member owner first');
    }
  }
}

function memberNotFound(): AppError {
  return new AppError('member_not_found', 'Member not found');
}
