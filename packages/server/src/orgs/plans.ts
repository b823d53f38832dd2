/**
 * The plan catalog: what an org may hold and how fast it may call (docs/rate-limits.md#plans).
 * `null` is unlimited. A self-hosted instance gives every org `KEYNEST_DEFAULT_PLAN` (by default
 * `unlimited`, so nobody is surprised by a limit they never chose); the instance's operator may put
 * an org on another plan (orgs/quotas.ts).
 */
export const PLAN_NAMES = ['free', 'team', 'unlimited'] as const;
export type PlanName = (typeof PLAN_NAMES)[number];

/** What a create is counted against: members (with pending invitations), projects, live secrets, live API tokens. */
export const QUOTA_KINDS = ['members', 'projects', 'secrets', 'tokens'] as const;
export type QuotaKind = (typeof QUOTA_KINDS)[number];

export type PlanLimits = Record<QuotaKind | 'requestsPerMinute', number | null>;

export const PLANS: Readonly<Record<PlanName, Readonly<PlanLimits>>> = {
  free: { members: 5, projects: 3, secrets: 200, tokens: 5, requestsPerMinute: 600 },
  team: { members: 50, projects: 50, secrets: 10_000, tokens: 200, requestsPerMinute: 6_000 },
  unlimited: { members: null, projects: null, secrets: null, tokens: null, requestsPerMinute: null },
};

export function isPlanName(value: string): value is PlanName {
  return (PLAN_NAMES as readonly string[]).includes(value);
}
