import { builtinRules, ORG_LEVEL, PROJECT_LEVEL, type RoleRule, type Selector } from '../access/member-access.js';
import { isRole, PERMISSIONS, type Role } from '../access/permissions.js';
import { AppError } from '../errors.js';

/** A role a member holds, in the org or in one project: a built-in one, or a custom role's rules. */
export type RoleRef = { role: Role } | { role: 'custom'; roleId: string };

/** The role column of a membership: a built-in role, or `custom` (with the role id beside it). */
export type MemberRole = Role | 'custom';

export function isMemberRole(value: string): value is MemberRole {
  return value === 'custom' || isRole(value);
}

/** The custom role a stored role reference names (with its name joined in), or null. */
export function customRoleOf(r: { role: string; role_id: string | null; role_name: string | null }): { id: string; name: string } | null {
  return r.role === 'custom' && r.role_id !== null && r.role_name !== null ? { id: r.role_id, name: r.role_name } : null;
}

/**
 * Who holds which role, as the member list and a project's role overrides show it. A role stored
 * otherwise (by hand) reads as the least one.
 */
export function roleHolderOf(r: { user_id: string; email: string; role: string; role_id: string | null; role_name: string | null }): {
  userId: string;
  email: string;
  role: MemberRole;
  customRole: { id: string; name: string } | null;
} {
  return { userId: r.user_id, email: r.email, role: isMemberRole(r.role) ? r.role : 'viewer', customRole: customRoleOf(r) };
}

/**
 * The checks a rule set passes before it is stored (400 validation_failed naming the rule): known
 * permissions, org-level ones only in rules for every project and environment, project-level ones
 * never narrowed to environments, and no empty lists.
 */
export function validateRules(rules: readonly RoleRule[]): RoleRule[] {
  if (rules.length === 0) throw invalid('A role needs at least one rule', 'rules');
  return rules.map((r, i) => {
    const at = `rules/${i}`;
    if (r.permissions.length === 0) throw invalid(`Rule ${i} has no permission`, `${at}/permissions`);
    for (const p of r.permissions) if (!(PERMISSIONS as readonly string[]).includes(p)) throw invalid(`Rule ${i}: ${String(p)} is not a permission`, `${at}/permissions`);
    for (const [sel, name] of [[r.projects, 'projects'], [r.environments, 'environments']] as const) {
      if (sel !== '*' && sel.length === 0) throw invalid(`Rule ${i}: ${name} is empty (use "*" for all)`, `${at}/${name}`);
    }
    const org = r.permissions.filter((p) => ORG_LEVEL.has(p));
    if (org.length > 0 && (r.projects !== '*' || r.environments !== '*')) {
      throw invalid(`Rule ${i}: ${org.join(', ')} concern the whole organization; put them in a rule for every project and environment`, at);
    }
    const whole = r.permissions.filter((p) => PROJECT_LEVEL.has(p));
    if (whole.length > 0 && r.environments !== '*') throw invalid(`Rule ${i}: ${whole.join(', ')} concern whole projects; they cannot be narrowed to environments`, at);
    return { permissions: PERMISSIONS.filter((p) => r.permissions.includes(p)), projects: unique(r.projects), environments: unique(r.environments) };
  });
}

function unique(sel: Selector): Selector {
  return sel === '*' ? '*' : [...new Set(sel)];
}

function invalid(message: string, path: string): AppError {
  return new AppError('validation_failed', message, [{ path, rule: 'role' }]);
}

/** Stored rules back into rules; anything malformed grants nothing (fail closed). */
export function parseStoredRules(json: string | null): RoleRule[] {
  if (json === null) return [];
  try {
    const raw = JSON.parse(json) as unknown;
    if (!Array.isArray(raw)) return [];
    const out: RoleRule[] = [];
    for (const r of raw as { permissions?: unknown; projects?: unknown; environments?: unknown }[]) {
      const sel = (s: unknown): Selector | null => (s === '*' ? '*' : Array.isArray(s) && s.every((x) => typeof x === 'string') ? (s as string[]) : null);
      const projects = sel(r.projects);
      const environments = sel(r.environments);
      if (!Array.isArray(r.permissions) || !projects || !environments) continue;
      const permissions = PERMISSIONS.filter((p) => (r.permissions as unknown[]).includes(p));
      out.push({ permissions, projects, environments });
    }
    return out;
  } catch {
    return [];
  }
}

/** The rules a stored role reference stands for; an unknown one stands for nothing. */
export function rulesOf(role: string, customRules: string | null): RoleRule[] {
  if (role === 'custom') return parseStoredRules(customRules);
  return isRole(role) ? builtinRules(role) : [];
}


/** A role to give as stored: its column values, its rules, and how the audit log names it. */
export interface ResolvedRole {
  role: MemberRole;
  roleId: string | null;
  /** `developer`, or a custom role's id. */
  label: string;
  name: string;
  rules: RoleRule[];
}

export function builtinResolved(role: Role): ResolvedRole {
  return { role, roleId: null, label: role, name: role, rules: builtinRules(role) };
}
