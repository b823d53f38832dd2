import { PERMISSIONS, ROLE_PERMISSIONS, type Permission, type Role } from './permissions.js';

/**
 * What a member may do, compiled from their org role (built-in or custom) and their per-project
 * overrides (issue 4). Pure: loading is in access/member-access-loader.ts, the decision in
 * `can` (policy.ts). Invariants:
 * - org-level permissions come from the org role alone; an override never adds or removes one;
 * - inside a project with an override, the override's rules replace the org role's project rules;
 * - a rule names environments by name ("production" is every project's production), projects by id.
 */

/** Permissions about secrets and what they live in: a rule may narrow them to projects and environments. */
export const ENVIRONMENT_LEVEL: ReadonlySet<Permission> = new Set<Permission>(['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write', 'secret:delete']);

/** Permissions about a whole project: a rule may narrow them to projects, never to environments. */
export const PROJECT_LEVEL: ReadonlySet<Permission> = new Set<Permission>(['project:delete', 'environment:manage']);

/**
 * Permissions about the organization itself: only in rules for every project and environment.
 * Everything else in the catalog, so a permission added later is org-level (never narrowed) until
 * it is said to be otherwise.
 */
export const ORG_LEVEL: ReadonlySet<Permission> = new Set<Permission>(PERMISSIONS.filter((p) => !ENVIRONMENT_LEVEL.has(p) && !PROJECT_LEVEL.has(p)));

export type Selector = '*' | readonly string[];

export interface RoleRule {
  permissions: readonly Permission[];
  /** Project ids, or every project. */
  projects: Selector;
  /** Environment names, or every environment. */
  environments: Selector;
}

export interface MemberAccess {
  /** Org-level permissions, from the org role. */
  org: ReadonlySet<Permission>;
  /** The org role's project rules. */
  rules: readonly RoleRule[];
  /** Project id → the rules that replace `rules` inside that project. */
  overrides: ReadonlyMap<string, readonly RoleRule[]>;
}

export interface AccessScope {
  projectId?: string | undefined;
  environmentName?: string | undefined;
}

const ALL: Selector = '*';

/** A built-in role as rules: its org-level permissions, and the rest for every project and environment. */
export function builtinRules(role: Role): RoleRule[] {
  const granted = ROLE_PERMISSIONS[role];
  if (!granted) return [];
  return [{ permissions: PERMISSIONS.filter((p) => granted.has(p)), projects: ALL, environments: ALL }];
}

/** Compiles an org role's rules and the member's overrides (each as rules). Unknown input grants nothing. */
export function compileAccess(roleRules: readonly RoleRule[], overrides: ReadonlyMap<string, readonly RoleRule[]> = new Map()): MemberAccess {
  const org = new Set<Permission>();
  const rules: RoleRule[] = [];
  for (const r of roleRules) {
    const project = projectScoped(r);
    if (project) rules.push(project);
    // Org-level permissions count only from rules that cover everything (validation refuses others).
    if (r.projects === '*' && r.environments === '*') for (const p of r.permissions) if (ORG_LEVEL.has(p)) org.add(p);
  }
  const scoped = new Map<string, RoleRule[]>();
  for (const [projectId, list] of overrides) scoped.set(projectId, list.map(projectScoped).filter((r): r is RoleRule => r !== null));
  return { org, rules, overrides: scoped };
}

function projectScoped(r: RoleRule): RoleRule | null {
  const permissions = r.permissions.filter((p) => !ORG_LEVEL.has(p));
  return permissions.length === 0 ? null : { permissions, projects: r.projects, environments: r.environments };
}

function selects(sel: Selector, value: string | undefined): boolean {
  return value === undefined || sel === '*' || sel.includes(value);
}

/** The rules in force inside a project. */
function rulesIn(access: MemberAccess, projectId: string): readonly RoleRule[] {
  return access.overrides.get(projectId) ?? access.rules;
}

/**
 * May the member use `permission` on `scope`? Without a project: anywhere at all (a listing then
 * filters). With a project but no environment, a rule narrowed to environments still counts:
 * callers check environment-level permissions (secret:*) with the environment.
 */
export function memberCan(access: MemberAccess, permission: Permission, scope: AccessScope): boolean {
  if (ORG_LEVEL.has(permission)) return access.org.has(permission);
  const { projectId, environmentName } = scope;
  if (projectId === undefined) {
    return [access.rules, ...access.overrides.values()].some((list) => list.some((r) => r.permissions.includes(permission)));
  }
  return rulesIn(access, projectId).some((r) => r.permissions.includes(permission) && selects(r.projects, projectId) && selects(r.environments, environmentName));
}

/** Whether any rule reaches this project (and environment): the member may know it exists. */
export function memberReaches(access: MemberAccess, projectId: string, environmentName?: string): boolean {
  return rulesIn(access, projectId).some((r) => selects(r.projects, projectId) && selects(r.environments, environmentName));
}

function includesAll(held: Selector, wanted: Selector): boolean {
  if (held === '*') return true;
  if (wanted === '*') return false;
  return wanted.every((w) => held.includes(w));
}

/**
 * Whether the grantor holds everything the rules give (conservatively, rule by rule and permission
 * by permission): nobody hands out more than they hold. `inProject` checks the rules as an override
 * of that one project. A rule for every project must be covered by the grantor's own rules and by
 * each of their overrides, since in those projects the overrides are what they hold.
 */
export function covers(grantor: MemberAccess, rules: readonly RoleRule[], inProject?: string): boolean {
  for (const r of rules) {
    if (inProject !== undefined && !selects(r.projects, inProject)) continue;
    for (const p of r.permissions) {
      if (ORG_LEVEL.has(p)) {
        if (inProject === undefined && !grantor.org.has(p)) return false;
        continue;
      }
      const projects = inProject !== undefined ? [inProject] : r.projects;
      const held = (list: readonly RoleRule[], project: string | undefined) =>
        list.some((g) => g.permissions.includes(p) && (project === undefined ? g.projects === '*' : selects(g.projects, project)) && includesAll(g.environments, r.environments));
      if (projects === '*') {
        if (!held(grantor.rules, undefined)) return false;
        for (const [project, list] of grantor.overrides) if (!held(list, project)) return false;
      } else if (!projects.every((project) => held(rulesIn(grantor, project), project))) {
        return false;
      }
    }
  }
  return true;
}

/** Every permission the member holds anywhere (for display and for token creation checks). */
export function heldAnywhere(access: MemberAccess): Set<Permission> {
  return new Set(PERMISSIONS.filter((p) => memberCan(access, p, {})));
}
