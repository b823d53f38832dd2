import type { SecurityStatus, StaleTokenReason } from '@keynest/sdk';
import { compileAccess } from '../access/member-access.js';
import { runsTheOrg } from '../access/policy.js';
import type { AuditService } from '../audit/service.js';
import { iso, isoOrNull, type RequestContext } from '../context.js';
import type { LoginThrottle } from '../identity/throttle.js';
import type { OrgService } from '../orgs/service.js';
import { roleHolderOf, rulesOf } from '../roles/rules.js';
import type { Db } from '../storage/database.js';
import type { Tenancy } from '../storage/tenancy.js';
import { activeSessionCounts, liveTokens, memberEmails, membersWithoutTwoFactor, twoFactorCounts } from './store.js';

/**
 * The security dashboard (`GET /api/v1/security/status`, `keynest security status`) and the
 * per-org figures behind the metrics gauges. Invariants:
 * - an org's status is built from that org's rows only (its audit chain, members, tokens,
 *   sessions); only the rate-limit refusals are the instance's, counted in memory, and say so;
 * - it names members (emails), addresses and token names, never a token, digest, password or seed;
 * - reading it changes nothing and is not audited, like audit search (it is a summary of the log).
 * Its answer is the SDK's `SecurityStatus`: one definition of the shape for server and clients.
 */

const DAY_MS = 24 * 3600 * 1000;
/** The window of sign-in failures and lockouts the status shows. */
export const STATUS_WINDOW_MS = DAY_MS;
/** How many client addresses the status lists (those with most failures). */
const TOP_IPS = 10;
const RECENT_LOCKOUTS = 20;
/**
 * The audited actions of a guessed credential (identity/: `failedAttempt` records each with outcome
 * `failure`): sign-in, re-authentication and password change (`session.create`), an invitation
 * accepted with an existing account's password, and the proof asked before changing 2FA.
 */
export const FAILED_SIGN_IN_ACTIONS = ['session.create', 'invitation.accept', '2fa.reauth'] as const;

/** Live API tokens by time since creation. */
export const TOKEN_AGES = ['lt_30d', '30d_90d', '90d_365d', 'gt_365d'] as const;
export type TokenAge = (typeof TOKEN_AGES)[number];
/** Why a live token deserves a look: unused for 90 days, never used in its first 30, or expiring within 7. */
export const STALE_REASONS: readonly StaleTokenReason[] = ['unused_90d', 'never_used', 'expires_7d'];

const UNUSED_MS = 90 * DAY_MS;
const NEVER_USED_GRACE_MS = 30 * DAY_MS;
const EXPIRY_WARNING_MS = 7 * DAY_MS;

export function tokenAge(createdAt: number, now: number): TokenAge {
  const age = now - createdAt;
  if (age < 30 * DAY_MS) return 'lt_30d';
  if (age < 90 * DAY_MS) return '30d_90d';
  if (age < 365 * DAY_MS) return '90d_365d';
  return 'gt_365d';
}

export function staleReasons(t: { created_at: number; last_used_at: number | null; expires_at: number | null }, now: number): StaleTokenReason[] {
  const reasons: StaleTokenReason[] = [];
  if (t.last_used_at !== null && now - t.last_used_at >= UNUSED_MS) reasons.push('unused_90d');
  if (t.last_used_at === null && now - t.created_at >= NEVER_USED_GRACE_MS) reasons.push('never_used');
  if (t.expires_at !== null && t.expires_at - now < EXPIRY_WARNING_MS) reasons.push('expires_7d');
  return reasons;
}

/** One org's figures, as the metrics gauges show them. */
export interface OrgFigures {
  orgId: string;
  members: number;
  twoFactor: number;
  activeSessions: number;
  tokensByAge: Record<TokenAge, number>;
  staleTokens: Record<StaleTokenReason, number>;
}

export interface SecurityOverviewDeps {
  db: Db;
  tenancy: Pick<Tenancy, 'runAsSystem'>;
  audit: Pick<AuditService, 'tallyByIp' | 'list'>;
  orgs: Pick<OrgService, 'settings'>;
  throttle: Pick<LoginThrottle, 'counts'>;
  /** When this instance started: the rate-limit refusals are counted since then. */
  startedAt: number;
}

export class SecurityOverview {
  constructor(private readonly deps: SecurityOverviewDeps) {}

  /**
   * Every org's figures (the metrics scrape). As `system`: metrics are the instance's, and these
   * are counts per org id, no org's data.
   */
  figures(now: number): Promise<OrgFigures[]> {
    return this.deps.tenancy.runAsSystem(async () => {
      const { db } = this.deps;
      const byOrg = new Map<string, OrgFigures>();
      const of = (orgId: string) => {
        let f = byOrg.get(orgId);
        if (!f) {
          f = { orgId, members: 0, twoFactor: 0, activeSessions: 0, tokensByAge: zeroes(TOKEN_AGES), staleTokens: zeroes(STALE_REASONS) };
          byOrg.set(orgId, f);
        }
        return f;
      };
      for (const r of await twoFactorCounts(db, null)) Object.assign(of(r.orgId), { members: r.members, twoFactor: r.twoFactor });
      for (const r of await activeSessionCounts(db, now, null)) of(r.orgId).activeSessions = r.sessions;
      for (const t of await liveTokens(db, now, null)) {
        const f = of(t.org_id);
        f.tokensByAge[tokenAge(t.created_at, now)]++;
        for (const reason of staleReasons(t, now)) f.staleTokens[reason]++;
      }
      return [...byOrg.values()];
    });
  }

  /** The caller's org at a glance: the last 24 hours of sign-in failures and locks, 2FA, stale tokens. */
  async status(ctx: RequestContext): Promise<SecurityStatus> {
    const { db, audit } = this.deps;
    const orgId = ctx.principal.orgId;
    const from = ctx.now - STATUS_WINDOW_MS;
    const failures = await audit.tallyByIp(orgId, { actions: FAILED_SIGN_IN_ACTIONS, outcome: 'failure', from }, TOP_IPS);
    const lockCount = await audit.tallyByIp(orgId, { actions: ['account.lock'], outcome: 'success', from }, 0);
    const locks = await audit.list(orgId, { action: 'account.lock', from }, RECENT_LOCKOUTS);
    const emails = new Map((await memberEmails(db, orgId)).map((m) => [m.user_id, m.email]));
    const [counts] = await twoFactorCounts(db, orgId);
    const members = counts?.members ?? 0;
    const enabled = counts?.twoFactor ?? 0;
    const without = await membersWithoutTwoFactor(db, orgId);
    const [sessions] = await activeSessionCounts(db, ctx.now, orgId);
    const tokens = await liveTokens(db, ctx.now, orgId);
    const throttled = this.deps.throttle.counts();
    return {
      generatedAt: iso(ctx.now),
      window: { from: iso(from), to: iso(ctx.now) },
      failedSignIns: {
        total: failures.total,
        byIp: failures.byIp.map((r) => ({ ip: r.ip, attempts: r.records, accounts: r.targets, lastAt: iso(r.lastAt) })),
      },
      lockouts: {
        total: lockCount.total,
        recent: locks.map((e) => ({ at: e.at, userId: e.target.id, email: (e.target.id !== null && emails.get(e.target.id)) || null, ip: e.ip })),
      },
      rateLimits: {
        scope: 'instance',
        since: iso(this.deps.startedAt),
        refused: [...throttled.refusals.values()].reduce((a, b) => a + b, 0),
        byLimit: Object.fromEntries(throttled.refusals),
      },
      twoFactor: {
        members,
        enabled,
        rate: members === 0 ? 0 : enabled / members,
        required: (await this.deps.orgs.settings(ctx)).require2fa,
        adminsWithout: without.filter((m) => runsTheOrg(compileAccess(rulesOf(m.role, m.rules)))).map(roleHolderOf),
      },
      staleTokens: tokens.flatMap((t) => {
        const reasons = staleReasons(t, ctx.now);
        if (reasons.length === 0) return [];
        return [
          {
            id: t.id,
            name: t.name,
            owner: t.owner,
            createdBy: { id: t.created_by, email: t.creator_email },
            createdAt: iso(t.created_at),
            lastUsedAt: isoOrNull(t.last_used_at),
            expiresAt: isoOrNull(t.expires_at),
            reasons,
          },
        ];
      }),
      activeSessions: sessions?.sessions ?? 0,
    };
  }
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}
