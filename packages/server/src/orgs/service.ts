import type { AuditService } from '../audit/service.js';
import type { Invalidation } from '../cache.js';
import { auditContextOf, type RequestContext } from '../context.js';
import { newId } from '../crypto/random.js';
import type { Keyring } from '../crypto/keyring.js';
import { AppError } from '../errors.js';
import type { PasswordPolicy, PasswordScore } from '../identity/password-policy.js';
import type { Db } from '../storage/database.js';
import { openSignupColumns, openSignupOf, type OpenSignupSettings } from './open-signup.js';
import { findOrg, findOrgByRef, findOrgSettings, findSoleOrg, insertOrg, updateOrgSettings, type OrgSettingsRow } from './store.js';

export type Require2fa = 'off' | 'admins' | 'all';
export const REQUIRE_2FA: readonly Require2fa[] = ['off', 'admins', 'all'];

/** What an org may set; null means "the deployment's value". */
export interface OrgSettings {
  /** Who must have two-factor authentication: nobody, owners and admins, or every member. */
  require2fa: Require2fa;
  sessionLimit: number | null;
  passwordPolicy: { minLength: number | null; minScore: number | null; requireClasses: number | null };
  /** Whether strangers may sign themselves up, from which domains, and as what (orgs/open-signup.ts). */
  openSignup: OpenSignupSettings;
  /** Days audit records are kept before the retention purge; null = the deployment's. */
  auditRetentionDays: number | null;
}

/** A PATCH: every field optional, and the nested ones field by field. */
export type OrgSettingsChange = Partial<Omit<OrgSettings, 'passwordPolicy' | 'openSignup'>> & {
  passwordPolicy?: Partial<OrgSettings['passwordPolicy']>;
  openSignup?: Partial<OpenSignupSettings>;
};

export interface OrgSettingsView extends OrgSettings {
  /** The values in force once the deployment's defaults fill the nulls. */
  effective: { sessionLimit: number; passwordPolicy: PasswordPolicy; auditRetentionDays: number };
}

export interface DeploymentDefaults {
  sessionLimit: number;
  passwordPolicy: PasswordPolicy;
  auditRetentionDays: number;
}

/** The longest retention an org may ask for (a century: "forever" for any audit). */
const MAX_AUDIT_RETENTION_DAYS = 100 * 365;

/**
 * Organizations: the tenant boundary. Invariants:
 * - an org is never without an active data key — it is created in the same transaction as the org;
 * - an org's settings may only tighten the deployment's (more characters, a higher score, fewer
 *   sessions, audit records kept longer), never loosen them: an org admin cannot shorten the
 *   audit trail of their own actions;
 * - a settings change is audited with its old and new values and announced, so cached sessions
 *   pick up a new 2FA requirement at once;
 * - open sign-up is off until an admin turns it on, and never gives a role that runs the org.
 */
export class OrgService {
  constructor(private readonly deps: { db: Db; keyring: Keyring; audit: AuditService; invalidation: Invalidation; defaults: DeploymentDefaults }) {}

  async createOrg(trx: Db, name: string, now: number): Promise<{ id: string; name: string }> {
    const id = newId('org');
    await insertOrg(trx, { id, name, now });
    await this.deps.keyring.createOrgKey(trx, id, now);
    return { id, name };
  }

  getOrg(id: string): Promise<{ id: string; name: string } | undefined> {
    return findOrg(this.deps.db, id);
  }

  async settings(ctx: RequestContext): Promise<OrgSettingsView> {
    return this.#view(await findOrgSettings(this.deps.db, ctx.principal.orgId));
  }

  /** The session limit in force for the org (read inside the caller's transaction). */
  async sessionLimit(db: Db, orgId: string): Promise<number> {
    return this.#view(await findOrgSettings(db, orgId)).effective.sessionLimit;
  }

  /** How many days the org's audit records are kept (the retention purge asks). */
  async auditRetentionDays(orgId: string): Promise<number> {
    return this.#view(await findOrgSettings(this.deps.db, orgId)).effective.auditRetentionDays;
  }

  async passwordPolicy(orgId: string): Promise<PasswordPolicy> {
    return this.#view(await findOrgSettings(this.deps.db, orgId)).effective.passwordPolicy;
  }

  /**
   * The org a sign-up names (its id or exact name), or the instance's only org when none is named,
   * with its open sign-up setting; undefined when there is no such org (or no single one).
   */
  async signupTarget(ref: string | undefined): Promise<{ org: { id: string; name: string }; openSignup: OpenSignupSettings } | undefined> {
    const org = ref === undefined ? await findSoleOrg(this.deps.db) : await findOrgByRef(this.deps.db, ref);
    if (!org) return undefined;
    return { org, openSignup: await this.openSignup(this.deps.db, org.id) };
  }

  /** The open sign-up setting in force (read inside the caller's transaction when given one). */
  async openSignup(db: Db, orgId: string): Promise<OpenSignupSettings> {
    return openSignupOf(await findOrgSettings(db, orgId));
  }

  async updateSettings(ctx: RequestContext, change: OrgSettingsChange): Promise<OrgSettingsView> {
    const orgId = ctx.principal.orgId;
    const values = this.#validated(change);
    const result = await this.deps.db.transaction().execute(async (trx) => {
      const before = await findOrgSettings(trx, orgId);
      const changed = Object.entries(values).filter(([k, v]) => before?.[k as keyof OrgSettingsRow] !== v);
      if (changed.length > 0) {
        await updateOrgSettings(trx, orgId, values);
        const details = Object.fromEntries(changed.map(([k, v]) => [k, `${String(before?.[k as keyof OrgSettingsRow] ?? 'default')} -> ${String(v ?? 'default')}`]));
        await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'org.settings.update', target: { type: 'org', id: orgId }, details });
      }
      return this.#view(await findOrgSettings(trx, orgId));
    });
    this.deps.invalidation.publish({ type: 'org.changed', orgId });
    return result;
  }

  #validated(change: OrgSettingsChange): Partial<OrgSettingsRow> {
    const d = this.deps.defaults;
    const out: Partial<OrgSettingsRow> = {};
    const atLeast = (path: string, value: number | null | undefined, min: number, max: number): number | null | undefined => {
      if (value === undefined || value === null) return value;
      if (value < min || value > max) {
        throw new AppError('validation_failed', `${path} must be between ${min} and ${max} (an organization may only tighten the deployment's policy)`, [{ path: `/${path}`, rule: 'range' }]);
      }
      return value;
    };
    if (change.require2fa !== undefined) out.require_2fa = change.require2fa;
    if (change.sessionLimit !== undefined) out.session_limit = atLeast('sessionLimit', change.sessionLimit, 1, d.sessionLimit) ?? null;
    const p = change.passwordPolicy;
    if (p?.minLength !== undefined) out.password_min_length = atLeast('passwordPolicy/minLength', p.minLength, d.passwordPolicy.minLength, d.passwordPolicy.maxLength) ?? null;
    if (p?.minScore !== undefined) out.password_min_score = atLeast('passwordPolicy/minScore', p.minScore, d.passwordPolicy.minScore, 4) ?? null;
    if (p?.requireClasses !== undefined) out.password_require_classes = atLeast('passwordPolicy/requireClasses', p.requireClasses, d.passwordPolicy.requireClasses, 4) ?? null;
    if (change.openSignup !== undefined) Object.assign(out, openSignupColumns(change.openSignup));
    if (change.auditRetentionDays !== undefined) out.audit_retention_days = atLeast('auditRetentionDays', change.auditRetentionDays, d.auditRetentionDays, MAX_AUDIT_RETENTION_DAYS) ?? null;
    return out;
  }

  #view(row: OrgSettingsRow | undefined): OrgSettingsView {
    const d = this.deps.defaults;
    const minLength = row?.password_min_length ?? null;
    const minScore = row?.password_min_score ?? null;
    const requireClasses = row?.password_require_classes ?? null;
    return {
      require2fa: row?.require_2fa ?? 'off',
      sessionLimit: row?.session_limit ?? null,
      passwordPolicy: { minLength, minScore, requireClasses },
      openSignup: openSignupOf(row),
      auditRetentionDays: row?.audit_retention_days ?? null,
      // Clamped again here, not only when saved: the deployment may have tightened since.
      effective: {
        sessionLimit: Math.min(row?.session_limit ?? d.sessionLimit, d.sessionLimit),
        auditRetentionDays: Math.max(row?.audit_retention_days ?? d.auditRetentionDays, d.auditRetentionDays),
        passwordPolicy: {
          ...d.passwordPolicy,
          minLength: Math.min(Math.max(minLength ?? 0, d.passwordPolicy.minLength), d.passwordPolicy.maxLength),
          minScore: Math.max(minScore ?? 0, d.passwordPolicy.minScore) as PasswordScore,
          requireClasses: Math.max(requireClasses ?? 0, d.passwordPolicy.requireClasses),
        },
      },
    };
  }
}
