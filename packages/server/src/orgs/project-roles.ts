import { canGrant } from '../access/policy.js';
import { signedInUser } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import type { Invalidation } from '../cache.js';
import { auditContextOf, iso, type RequestContext } from '../context.js';
import { AppError } from '../errors.js';
import type { Target } from '../projects/service.js';
import { resolveRoleRef, roleLabel } from '../roles/assign.js';
import { roleHolderOf, type MemberRole, type RoleRef } from '../roles/rules.js';
import { clearOverride, listOverrides, setOverride } from '../roles/store.js';
import type { Db } from '../storage/database.js';
import { manageableMember } from './members.js';

export interface ProjectRoleInfo {
  userId: string;
  email: string;
  role: MemberRole;
  customRole: { id: string; name: string } | null;
  setAt: string;
}

/**
 * Per-project member roles (issue 4): inside one project, a member acts with another role (built-in
 * or custom) instead of their org role's project permissions; org-level permissions stay the org
 * role's. Invariants:
 * - owners are never overridden (409 owner_not_overridable): they hold everything everywhere;
 * - whom and what follow the member rules: only a member whose org role the caller could give, and
 *   only a role whose rules the caller holds in that project (`canGrant(…, project)`);
 * - set and clear are audited with before and after in their transaction, and the member's
 *   sessions and tokens see the change at their next request (`user.changed`).
 */
export class ProjectRoleService {
  constructor(private readonly deps: { db: Db; audit: AuditService; invalidation: Invalidation }) {}

  async list(ctx: RequestContext, target: Target): Promise<ProjectRoleInfo[]> {
    const rows = await listOverrides(this.deps.db, ctx.principal.orgId, { projectId: target.project.id });
    return rows.map((r) => ({
      ...roleHolderOf(r),
      setAt: iso(r.created_at),
    }));
  }

  async set(ctx: RequestContext, target: Target, userId: string, ref: RoleRef): Promise<ProjectRoleInfo> {
    const caller = signedInUser(ctx);
    const projectId = target.project.id;
    const changed = await this.deps.db.transaction().execute(async (trx) => {
      const { member, callerAccess } = await manageableMember(trx, caller, userId);
      if (member.role === 'owner') throw new AppError('owner_not_overridable', 'Owners hold everything in every project: make them another role first');
      if (ref.role === 'owner') throw new AppError('validation_failed', 'Owner is an organization role, not a project one', [{ path: 'role', rule: 'enum' }]);
      const wanted = await resolveRoleRef(trx, caller.orgId, ref);
      if (!canGrant(callerAccess, wanted.rules, projectId)) {
        throw new AppError('role_not_grantable', `You cannot give the role ${wanted.name} in ${target.project.name}: it holds permissions yours does not there`);
      }
      const before = await this.#current(trx, caller.orgId, userId, projectId);
      if (before === wanted.label) return false;
      await setOverride(trx, { org_id: caller.orgId, user_id: userId, project_id: projectId, role: wanted.role, role_id: wanted.roleId, created_at: ctx.now, created_by: caller.userId });
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'member.project_role_set',
        target: { type: 'user', id: userId },
        details: { project: target.project.name, projectId, before, after: wanted.label, ...(wanted.roleId ? { afterName: wanted.name } : {}) },
      });
      return true;
    });
    if (changed) this.deps.invalidation.publish({ type: 'user.changed', userId });
    const info = (await this.list(ctx, target)).find((o) => o.userId === userId);
    if (!info) throw new AppError('member_not_found', 'Member not found');
    return info;
  }

  /** Back to the org role inside the project; clearing what is not set changes and records nothing. */
  async clear(ctx: RequestContext, target: Target, userId: string): Promise<void> {
    const caller = signedInUser(ctx);
    const projectId = target.project.id;
    const changed = await this.deps.db.transaction().execute(async (trx) => {
      await manageableMember(trx, caller, userId);
      const before = await this.#current(trx, caller.orgId, userId, projectId);
      if (before === null || !(await clearOverride(trx, caller.orgId, userId, projectId))) return false;
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'member.project_role_clear',
        target: { type: 'user', id: userId },
        details: { project: target.project.name, projectId, before, after: null },
      });
      return true;
    });
    if (changed) this.deps.invalidation.publish({ type: 'user.changed', userId });
  }

  async #current(trx: Db, orgId: string, userId: string, projectId: string): Promise<string | null> {
    const row = (await listOverrides(trx, orgId, { userId, projectId }))[0];
    return row ? roleLabel(row.role, row.role_id) : null;
  }
}
