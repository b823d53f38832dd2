import { compileAccess, type MemberAccess, type RoleRule } from '../access/member-access.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import type { Db } from '../storage/database.js';
import { customRoleOf, isMemberRole, rulesOf, type MemberRole } from './rules.js';
import { findMemberRoles } from './store.js';

/** A member's standing in an org: their org role and what it all compiles to. */
export interface MemberStanding {
  role: MemberRole;
  /** The custom role held, when `role` is `custom`. */
  customRole: { id: string; name: string } | null;
  /** The org role's own rules (without overrides): what giving this role again would give. */
  roleRules: RoleRule[];
  access: MemberAccess;
}

/**
 * Loads what members may do, for the sessions and tokens that act for them. Kept in memory like
 * session rows (the hot path must not query on every request) and dropped at once by
 * `user.changed`, which every role change, assignment and override publishes for each member it
 * touches, and by `org.changed`. Null: not a member, or a role stored otherwise (fail closed).
 */
export class MemberAccessLoader {
  readonly #byMember = new TtlCache<string, { orgId: string; userId: string; standing: MemberStanding | null }>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(private readonly deps: { db: Db; invalidation: Invalidation }) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'user.changed') this.#byMember.deleteWhere((m) => m.userId === e.userId);
      else if (e.type === 'org.changed') this.#byMember.deleteWhere((m) => m.orgId === e.orgId);
      else if (e.type === 'project.deleted') this.#byMember.deleteWhere((m) => m.standing?.access.overrides.has(e.projectId) ?? false);
    });
  }

  async standing(orgId: string, userId: string, now: number): Promise<MemberStanding | null> {
    const key = `${orgId}\u0000${userId}`;
    const hit = this.#byMember.get(key, now);
    if (hit) return hit.standing;
    const epoch = this.#byMember.epoch;
    const standing = await loadStanding(this.deps.db, orgId, userId);
    this.#byMember.set(key, { orgId, userId, standing }, now, epoch);
    return standing;
  }
}

/** Reads a member's standing from the database (inside a transaction when the caller holds a lock). */
export async function loadStanding(db: Db, orgId: string, userId: string): Promise<MemberStanding | null> {
  const found = await findMemberRoles(db, orgId, userId);
  if (!found || !isMemberRole(found.member.role)) return null;
  const { member } = found;
  const overrides = new Map<string, RoleRule[]>();
  for (const o of found.overrides) overrides.set(o.project_id, rulesOf(o.role, o.rules));
  const roleRules = rulesOf(member.role, member.rules);
  return {
    role: member.role as MemberRole,
    roleRules,
    customRole: customRoleOf(member),
    access: compileAccess(roleRules, member.role === 'owner' ? new Map() : overrides),
  };
}
