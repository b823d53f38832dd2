import type { OrgPlan } from '@keynest/sdk';
import type { AuditService } from '../audit/service.js';
import { auditContextOf, type Clock, type RequestContext } from '../context.js';
import { AppError } from '../errors.js';
import type { Invalidation } from '../cache.js';
import type { RateWindow } from '../http/rate-limit/index.js';
import type { Db } from '../storage/database.js';
import type { Tenancy } from '../storage/tenancy.js';
import { PLANS, QUOTA_KINDS, isPlanName, type PlanName, type QuotaKind } from './plans.js';
import { countUsage, findInstanceOrg, findOrgPlan, lockOrgForQuota, setOrgPlan } from './quota-store.js';
import { findOrgByRef } from './store.js';

/** How long a cached plan allowance is trusted; a change on this instance drops it at once. */
const PLAN_CACHE_TTL_MS = 60_000;
const PLAN_CACHE_MAX = 10_000;

/**
 * Per-org quotas by plan (docs/rate-limits.md#plans). Invariants:
 * - a create that would pass its org's quota is refused (`403 quota_exceeded`, naming the quota)
 *   inside the create's own transaction, after the org's row is locked, so two parallel creates
 *   cannot both take the last slot; an unlimited quota costs one read of the org's plan, no lock;
 * - `members` counts members and pending invitations: an invitation holds its seat, so accepting
 *   one is never refused for the quota;
 * - only the instance's operator sets a plan: an owner (billing:manage) of the org created at
 *   setup (the instance's first). Set with before/after in the audit log of the org concerned;
 * - the plan's requests per minute are read on the hot path from a cache, never the database.
 */
export class OrgQuotas {
  readonly #windows = new Map<string, { window: RateWindow | null; at: number }>();

  constructor(private readonly deps: { db: Db; tenancy: Pick<Tenancy, 'runAsSystem'>; audit: Pick<AuditService, 'record'>; invalidation: Invalidation; clock: Clock; defaultPlan: PlanName }) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'org.changed') this.#windows.delete(e.orgId);
    });
  }

  /**
   * Refuses (403 quota_exceeded) when `adding` more of `kind` would pass the org's quota. Call inside
   * the create's transaction, before anything of it is written.
   */
  async assertRoom(trx: Db, orgId: string, kind: QuotaKind, adding: number, now: number): Promise<void> {
    if (adding <= 0) return;
    const plan = this.#planName(await findOrgPlan(trx, orgId));
    const limit = PLANS[plan][kind];
    if (limit === null) return;
    await lockOrgForQuota(trx, orgId);
    const used = (await countUsage(trx, orgId, [kind], now))[kind];
    if (used + adding > limit) {
      throw new AppError('quota_exceeded', `The organization's ${plan} plan allows ${limit} ${kind} (${used} in use): remove some, or ask the instance's operator for another plan`, { quota: kind, limit, used, plan });
    }
  }

  /** The org's allowance of requests per minute, for the rate limiter: synchronous while cached. */
  window(orgId: string): RateWindow | null | Promise<RateWindow | null> {
    const now = this.deps.clock();
    const cached = this.#windows.get(orgId);
    if (cached && now - cached.at < PLAN_CACHE_TTL_MS && now >= cached.at) return cached.window;
    // As system: the caller's org is the one asked about, but this also serves before a narrowing.
    return this.deps.tenancy.runAsSystem(async () => {
      const rpm = PLANS[this.#planName(await findOrgPlan(this.deps.db, orgId))].requestsPerMinute;
      const window = rpm === null ? null : { points: rpm, durationS: 60 };
      if (this.#windows.size >= PLAN_CACHE_MAX) this.#windows.clear();
      this.#windows.set(orgId, { window, at: now });
      return window;
    });
  }

  /** The caller's own org: its plan, limits and usage. */
  async ownPlan(ctx: RequestContext): Promise<OrgPlan> {
    const org = await findOrgByRef(this.deps.db, ctx.principal.orgId);
    if (!org) throw new AppError('not_found', 'Organization not found');
    return this.#view(this.deps.db, org, ctx.now);
  }

  /** Any org's plan, for the instance's operator. */
  async planOf(ctx: RequestContext, orgRef: string): Promise<OrgPlan> {
    return this.#asOperator(ctx, async (db) => this.#view(db, await this.#org(db, orgRef), ctx.now));
  }

  /** Puts an org on `plan` (`null`: back to the instance default), for the instance's operator. */
  async setPlan(ctx: RequestContext, orgRef: string, plan: PlanName | null): Promise<OrgPlan> {
    const view = await this.#asOperator(ctx, (db) =>
      db.transaction().execute(async (trx) => {
        const org = await this.#org(trx, orgRef);
        const before = await findOrgPlan(trx, org.id);
        if ((before ?? null) !== plan) {
          await setOrgPlan(trx, org.id, plan);
          const entry = { action: 'org.plan.set', target: { type: 'org', id: org.id, name: org.name }, details: { before: before ?? `default (${this.deps.defaultPlan})`, after: plan ?? `default (${this.deps.defaultPlan})` } };
          // In the audit log of the org whose plan it is (its owners see who changed it), and in the operator's own.
          await this.deps.audit.record(trx, { ...auditContextOf(ctx), orgId: org.id }, entry);
          if (org.id !== ctx.principal.orgId) await this.deps.audit.record(trx, auditContextOf(ctx), entry);
        }
        return this.#view(trx, org, ctx.now);
      }),
    );
    this.deps.invalidation.publish({ type: 'org.changed', orgId: view.org.id });
    return view;
  }

  /**
   * There is no instance-wide role: the operator is whoever owns the org created at setup. The
   * route already asked billing:manage (owners only) of the caller in their own org.
   */
  async #asOperator<T>(ctx: RequestContext, work: (db: Db) => Promise<T>): Promise<T> {
    // As system: the operator acts on other orgs' rows, which their own tenant context cannot see.
    return this.deps.tenancy.runAsSystem(async () => {
      const operatorOrg = await findInstanceOrg(this.deps.db);
      if (ctx.principal.type !== 'user' || operatorOrg?.id !== ctx.principal.orgId) {
        throw new AppError('forbidden', "Only an owner of the instance's first organization (the one made at setup) sets plans");
      }
      return work(this.deps.db);
    });
  }

  async #org(db: Db, ref: string): Promise<{ id: string; name: string }> {
    const org = await findOrgByRef(db, ref);
    if (!org) throw new AppError('not_found', 'Organization not found');
    return org;
  }

  async #view(db: Db, org: { id: string; name: string }, now: number): Promise<OrgPlan> {
    const own = await findOrgPlan(db, org.id);
    const plan = this.#planName(own);
    return { org, plan, isDefault: own === null, limits: { ...PLANS[plan] }, usage: await countUsage(db, org.id, QUOTA_KINDS, now) };
  }

  #planName(stored: string | null): PlanName {
    // A plan name this version does not know (a later release's, then a downgrade) counts as the default.
    return stored !== null && isPlanName(stored) ? stored : this.deps.defaultPlan;
  }
}
