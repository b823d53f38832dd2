import { ORG_LEVEL, type RoleRule, type Selector } from '../access/member-access.js';
import type { Permission } from '../access/permissions.js';
import { canGrant, canSeeProject } from '../access/policy.js';
import { signedInUser } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import type { Invalidation } from '../cache.js';
import { auditContextOf, iso, type RequestContext } from '../context.js';
import { newId } from '../crypto/random.js';
import { AppError } from '../errors.js';
import { findProject, listProjectsWithEnvironments } from '../projects/store.js';
import type { Db } from '../storage/database.js';
import { loadStanding } from './access-loader.js';
import { parseStoredRules, validateRules } from './rules.js';
import * as store from './store.js';
import { findTemplate, ROLE_TEMPLATES, type RoleTemplate } from './templates.js';

/** A rule as the API shows it: projects with their names (deleted ones are left out). */
export interface RuleView {
  permissions: Permission[];
  projects: '*' | { id: string; name: string }[];
  environments: '*' | string[];
}

export interface RoleView {
  id: string;
  name: string;
  description: string | null;
  rules: RuleView[];
  createdAt: string;
  updatedAt: string;
}

/** A rule as a client sends it: projects by name or id; omitted selectors mean every one. */
export interface RuleInput {
  permissions: Permission[];
  projects?: '*' | string[];
  environments?: '*' | string[];
}

export type RoleInput =
  | { name: string; description?: string | null; rules: RuleInput[] }
  | { name: string; description?: string | null; template: string; projects?: string[]; environments?: string[] };

export interface RoleChange {
  name?: string;
  description?: string | null;
  rules?: RuleInput[];
}

/**
 * An org's custom roles (issue 4). Invariants:
 * - a role is seen and changed only within its org: another org's id is answered 404 like an
 *   unknown one;
 * - nobody defines a role giving more than they hold (`canGrant`), nor changes one they could not
 *   give as it stands; org-level permissions only in rules for every project and environment;
 * - a role in use (by a member, or as a project override) is never deleted (409 role_in_use);
 * - every change is audited with its before and after in its own transaction, and the members
 *   holding the role see the change at their very next request (`user.changed` for each).
 */
export class RoleService {
  constructor(private readonly deps: { db: Db; audit: AuditService; invalidation: Invalidation }) {}

  templates(): readonly RoleTemplate[] {
    return ROLE_TEMPLATES;
  }

  async list(ctx: RequestContext): Promise<RoleView[]> {
    const [rows, names] = await Promise.all([store.listRoles(this.deps.db, ctx.principal.orgId), this.#projectNames(ctx.principal.orgId)]);
    return rows.map((r) => viewOf(r, names));
  }

  async get(ctx: RequestContext, ref: string): Promise<RoleView> {
    const row = await store.findRole(this.deps.db, ctx.principal.orgId, ref);
    if (!row) throw roleNotFound();
    return viewOf(row, await this.#projectNames(ctx.principal.orgId));
  }

  async create(ctx: RequestContext, input: RoleInput): Promise<RoleView> {
    const caller = signedInUser(ctx);
    const name = assertRoleName(input.name);
    const rules = validateRules('template' in input ? await this.#fromTemplate(ctx, input) : await this.#resolveRules(ctx, input.rules));
    const id = newId('rol');
    await this.deps.db.transaction().execute(async (trx) => {
      await this.#assertMayGive(trx, caller, rules);
      if (await store.findRole(trx, caller.orgId, name)) throw roleExists(name);
      const definition = { name, description: input.description ?? null, rules };
      await store.insertRole(trx, { id, org_id: caller.orgId, ...definition, rules: JSON.stringify(rules), created_at: ctx.now, created_by: caller.userId, updated_at: ctx.now, updated_by: caller.userId });
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'role.create', target: { type: 'role', id, name }, details: { before: null, after: JSON.stringify(definition), ...('template' in input ? { template: input.template } : {}) } });
    });
    return this.get(ctx, id);
  }

  async update(ctx: RequestContext, ref: string, change: RoleChange): Promise<RoleView> {
    const caller = signedInUser(ctx);
    const newRules = change.rules === undefined ? undefined : validateRules(await this.#resolveRules(ctx, change.rules));
    const newName = change.name === undefined ? undefined : assertRoleName(change.name);
    const affected = await this.deps.db.transaction().execute(async (trx) => {
      const row = await store.findRole(trx, caller.orgId, ref);
      if (!row) throw roleNotFound();
      const before = { name: row.name, description: row.description, rules: parseStoredRules(row.rules) };
      const after = { name: newName ?? row.name, description: change.description === undefined ? row.description : change.description, rules: newRules ?? before.rules };
      // Changing a role changes what its holders may do: the caller must be able to give it as it
      // was (else they could take an owner-made role from its holders) and as it becomes.
      await this.#assertMayGive(trx, caller, [...before.rules, ...after.rules]);
      if (after.name !== row.name) {
        const clash = await store.findRole(trx, caller.orgId, after.name);
        if (clash && clash.id !== row.id) throw roleExists(after.name);
      }
      if (JSON.stringify(before) === JSON.stringify(after)) return [];
      await store.updateRole(trx, caller.orgId, row.id, { name: after.name, description: after.description, rules: JSON.stringify(after.rules), updated_at: ctx.now, updated_by: caller.userId });
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'role.update', target: { type: 'role', id: row.id, name: after.name }, details: { before: JSON.stringify(before), after: JSON.stringify(after) } });
      return store.usersOfRole(trx, caller.orgId, row.id);
    });
    for (const userId of affected) this.deps.invalidation.publish({ type: 'user.changed', userId });
    return this.get(ctx, ref.startsWith('rol_') ? ref : (newName ?? ref));
  }

  async delete(ctx: RequestContext, ref: string): Promise<void> {
    const caller = signedInUser(ctx);
    await this.deps.db.transaction().execute(async (trx) => {
      const row = await store.findRole(trx, caller.orgId, ref);
      if (!row) throw roleNotFound();
      const rules = parseStoredRules(row.rules);
      await this.#assertMayGive(trx, caller, rules);
      const uses = await store.countRoleUses(trx, caller.orgId, row.id, ctx.now);
      if (uses.members + uses.overrides + uses.invitations > 0) {
        throw new AppError('role_in_use', `The role ${row.name} is held by ${uses.members} member(s) and ${uses.overrides} project role(s), and given by ${uses.invitations} pending invitation(s): change or revoke them first`);
      }
      await store.deleteRole(trx, caller.orgId, row.id);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'role.delete', target: { type: 'role', id: row.id, name: row.name }, details: { before: JSON.stringify({ name: row.name, description: row.description, rules }), after: null } });
    });
  }

  /** The caller's access as it is now (read in the transaction, not from the request's principal). */
  async #assertMayGive(trx: Db, caller: { orgId: string; userId: string }, rules: readonly RoleRule[]): Promise<void> {
    const own = await loadStanding(trx, caller.orgId, caller.userId);
    if (!own || !canGrant(own.access, rules)) {
      throw new AppError('role_not_grantable', 'This role would give permissions (in projects or environments) that you do not hold yourself');
    }
  }

  async #fromTemplate(ctx: RequestContext, input: Extract<RoleInput, { template: string }>): Promise<RoleRule[]> {
    const template = findTemplate(input.template);
    if (!template) throw new AppError('validation_failed', `No such role template: ${input.template} (see GET /api/v1/role-templates)`, [{ path: 'template', rule: 'enum' }]);
    if (template.choosesEnvironments && !input.environments) throw new AppError('validation_failed', `The template ${template.id} needs environments`, [{ path: 'environments', rule: 'required' }]);
    if (!template.choosesEnvironments && input.environments) throw new AppError('validation_failed', `The template ${template.id} fixes its environments`, [{ path: 'environments', rule: 'template' }]);
    const projects: Selector = input.projects ? await this.#projectIds(ctx, input.projects) : '*';
    return template.rules.map((r) => {
      const orgLevel = r.permissions.some((p) => ORG_LEVEL.has(p));
      return {
        permissions: [...r.permissions],
        projects: orgLevel ? '*' : projects,
        environments: template.choosesEnvironments && !orgLevel ? input.environments! : r.environments,
      };
    });
  }

  async #resolveRules(ctx: RequestContext, rules: readonly RuleInput[]): Promise<RoleRule[]> {
    const out: RoleRule[] = [];
    for (const r of rules) {
      const projects = r.projects === undefined || r.projects === '*' ? '*' : await this.#projectIds(ctx, r.projects);
      out.push({ permissions: r.permissions, projects, environments: r.environments ?? '*' });
    }
    return out;
  }

  /** Project names or ids to ids; one the caller may not see is not found, like a missing one. */
  async #projectIds(ctx: RequestContext, refs: readonly string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const ref of refs) {
      const p = await findProject(this.deps.db, ctx.principal.orgId, ref);
      if (!p || !canSeeProject(ctx.principal, p.id)) throw new AppError('project_not_found', `Project not found: ${ref}`);
      ids.push(p.id);
    }
    return ids;
  }

  async #projectNames(orgId: string): Promise<Map<string, string>> {
    const rows = await listProjectsWithEnvironments(this.deps.db, orgId);
    return new Map(rows.map((r) => [r.id, r.name]));
  }
}

const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$/;

function assertRoleName(name: string): string {
  const trimmed = name.trim();
  if (!ROLE_NAME.test(trimmed)) throw new AppError('invalid_name', 'A role name is 1-63 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit');
  // Built-in names and ids would make a reference ambiguous.
  if (['owner', 'admin', 'developer', 'viewer', 'custom'].includes(trimmed.toLowerCase()) || trimmed.startsWith('rol_')) {
    throw new AppError('invalid_name', `${trimmed} is reserved`);
  }
  return trimmed;
}

export function roleNotFound(): AppError {
  return new AppError('role_not_found', 'No such role in your organization');
}

function roleExists(name: string): AppError {
  return new AppError('role_exists', `A role named ${name} already exists`);
}

function viewOf(row: store.CustomRoleRow, names: ReadonlyMap<string, string>): RoleView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    rules: parseStoredRules(row.rules).map((r) => ({
      permissions: [...r.permissions],
      projects: r.projects === '*' ? '*' : r.projects.filter((id) => names.has(id)).map((id) => ({ id, name: names.get(id)! })),
      environments: r.environments === '*' ? '*' : [...r.environments],
    })),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
