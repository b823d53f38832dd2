import { memberCan, type MemberAccess } from '../access/member-access.js';
import { type Role } from '../access/permissions.js';
import { canGrant } from '../access/policy.js';
import { signedInUser } from '../access/principal.js';
import type { ApiTokenService } from '../access/service.js';
import type { AuditService } from '../audit/service.js';
import type { Invalidation } from '../cache.js';
import { auditContextOf, iso, isoOrNull, type RequestContext } from '../context.js';
import { AppError } from '../errors.js';
import type { SessionService } from '../identity/sessions.js';
import { loadStanding, type MemberStanding } from '../roles/access-loader.js';
import { resolveRoleRef, roleLabel } from '../roles/assign.js';
import { roleHolderOf, type MemberRole, type RoleRef } from '../roles/rules.js';
import { clearMemberOverrides } from '../roles/store.js';
import type { Db } from '../storage/database.js';
import { countOwners, deleteMembership, listLiveSecretKeys, listMembers, lockMemberships, updateMemberRole } from './member-store.js';

export interface MemberInfo {
  userId: string;
  email: string;
  /** A built-in role, or `custom` (then `customRole` names it). */
  role: MemberRole;
  customRole: { id: string; name: string } | null;
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
 * - nobody gives a role (built-in or custom) holding a permission they do not hold (`canGrant`),
 *   nor changes or removes someone whose current role they could not give (an admin cannot demote
 *   an owner); changing or removing oneself follows the same rules;
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
      ...roleHolderOf(r),
      joinedAt: iso(r.created_at),
      twoFactorEnabled: r.totp_state === 'active',
      lastActiveAt: isoOrNull(r.last_active_at === null ? null : Number(r.last_active_at)),
    }));
  }

  async changeRole(ctx: RequestContext, userId: string, ref: RoleRef): Promise<MemberInfo> {
    const caller = signedInUser(ctx);
    const orgId = caller.orgId;
    await this.deps.db.transaction().execute(async (trx) => {
      const { member, callerAccess } = await manageableMember(trx, caller, userId);
      const wanted = await resolveRoleRef(trx, orgId, ref);
      if (!canGrant(callerAccess, wanted.rules)) {
        throw new AppError('role_not_grantable', `You cannot give the role ${wanted.name}: it holds permissions yours does not (only an owner makes owners)`);
      }
      const before = roleLabel(member.role, member.customRole?.id ?? null);
      if (before === wanted.label) return;
      if (member.role === 'owner') await keepAnOwner(trx, orgId);
      await updateMemberRole(trx, orgId, userId, wanted.role, wanted.roleId);
      // An owner holds everything everywhere: per-project roles no longer mean anything.
      if (wanted.role === 'owner') await clearMemberOverrides(trx, orgId, userId);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'member.role_change',
        target: { type: 'user', id: userId },
        details: { before, after: wanted.label, ...(wanted.roleId ? { afterName: wanted.name } : {}), ...(member.customRole ? { beforeName: member.customRole.name } : {}) },
      });
    });
    // Cached session rows and access carry the role: drop them so the member's next request reads the new one.
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
      const { member } = await manageableMember(trx, caller, userId);
      const role = roleLabel(member.role, member.customRole?.id ?? null);
      if (member.role === 'owner') await keepAnOwner(trx, orgId);
      await clearMemberOverrides(trx, orgId, userId);
      await deleteMembership(trx, orgId, userId);
      const revokedSessions = await sessions.revokeAllInOrg(trx, orgId, userId, ctx.now);
      const revokedTokens = await tokens.revokeCreatedBy(trx, orgId, userId, ctx.now);
      // Read inside the transaction: the list matches the org as it was when they left, and what
      // their access (custom rules and project overrides included) let them read.
      const readableSecrets = (await listLiveSecretKeys(trx, orgId)).filter((s) => couldRead(member.access, s));
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
}

/**
 * A member the caller may change or remove, with the caller's own access. Locks the org's
 * memberships first, so both are what the change applies under: the caller's access is read again
 * rather than taken from the request's principal, which was resolved before the lock (a caller
 * demoted by a change that committed meanwhile acts with their new role). Whom: only a member
 * whose current org role the caller could give.
 */
export async function manageableMember(trx: Db, caller: { orgId: string; userId: string }, userId: string): Promise<{ member: MemberStanding; callerAccess: MemberAccess }> {
  await lockMemberships(trx, caller.orgId);
  const self = await loadStanding(trx, caller.orgId, caller.userId);
  if (!self) throw new AppError('forbidden', 'You are no longer a member of this organization');
  const member = await loadStanding(trx, caller.orgId, userId);
  if (!member) throw memberNotFound();
  if (!canGrant(self.access, member.roleRules)) {
    const name = member.customRole?.name ?? member.role;
    throw new AppError('role_not_grantable', `You cannot change or remove a member who is ${name}: that role holds permissions yours does not`);
  }
  return { member, callerAccess: self.access };
}

async function keepAnOwner(trx: Db, orgId: string): Promise<void> {
  if ((await countOwners(trx, orgId)) <= 1) {
    throw new AppError('last_owner', 'This is the organization’s last owner: make another member owner first');
  }
}

function couldRead(access: MemberAccess, s: { project_id: string; environment: string }): boolean {
  return memberCan(access, 'secret:read_values', { projectId: s.project_id, environmentName: s.environment });
}

function memberNotFound(): AppError {
  return new AppError('member_not_found', 'Member not found');
}
