import type { Db } from '../storage/database.js';

/**
 * The counts behind the security status and the metrics gauges. `orgId` null: every org, grouped by
 * org (metrics, which run as `system`); otherwise that org's row only. Counts and timestamps only:
 * never a digest, a hash or a seed.
 */

/** Members, and those of them whose two-factor authentication is on, per org. */
export async function twoFactorCounts(db: Db, orgId: string | null) {
  let q = db
    .selectFrom('memberships')
    .leftJoin('user_totp', (j) => j.onRef('user_totp.user_id', '=', 'memberships.user_id').on('user_totp.state', '=', 'active'))
    .select((eb) => ['memberships.org_id', eb.fn.countAll<number | string>().as('members'), eb.fn.count<number | string>('user_totp.user_id').as('two_factor')]);
  if (orgId !== null) q = q.where('memberships.org_id', '=', orgId);
  const rows = await q.groupBy('memberships.org_id').execute();
  return rows.map((r) => ({ orgId: r.org_id, members: Number(r.members), twoFactor: Number(r.two_factor) }));
}

/** Sessions alive at `now` (not revoked, not expired, not idle past their timeout), per org. */
export async function activeSessionCounts(db: Db, now: number, orgId: string | null) {
  let q = db
    .selectFrom('sessions')
    .select((eb) => ['org_id', eb.fn.countAll<number | string>().as('sessions')])
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where((eb) => eb(eb('last_active_at', '+', eb.ref('idle_timeout_ms')), '>', now));
  if (orgId !== null) q = q.where('org_id', '=', orgId);
  const rows = await q.groupBy('org_id').execute();
  return rows.map((r) => ({ orgId: r.org_id, sessions: Number(r.sessions) }));
}

/**
 * API tokens that still work at `now` (not revoked, not expired, not replaced by a rotation), with
 * who made them (their email when they still have an account). Never the token or its digest.
 */
export async function liveTokens(db: Db, now: number, orgId: string | null) {
  let q = db
    .selectFrom('api_tokens')
    .leftJoin('users', 'users.id', 'api_tokens.created_by')
    .select([
      'api_tokens.id',
      'api_tokens.org_id',
      'api_tokens.name',
      'api_tokens.owner',
      'api_tokens.created_by',
      'users.email as creator_email',
      'api_tokens.created_at',
      'api_tokens.last_used_at',
      'api_tokens.expires_at',
    ])
    .where('api_tokens.revoked_at', 'is', null)
    .where('api_tokens.rotated_at', 'is', null)
    .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', now)]));
  if (orgId !== null) q = q.where('api_tokens.org_id', '=', orgId);
  const rows = await q.orderBy('api_tokens.created_at').orderBy('api_tokens.id').execute();
  return rows.map((r) => ({
    ...r,
    created_at: Number(r.created_at),
    last_used_at: r.last_used_at === null ? null : Number(r.last_used_at),
    expires_at: r.expires_at === null ? null : Number(r.expires_at),
  }));
}

/** The org's members whose two-factor authentication is not on, with their role (and a custom role's rules). */
export function membersWithoutTwoFactor(db: Db, orgId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .leftJoin('user_totp', (j) => j.onRef('user_totp.user_id', '=', 'memberships.user_id').on('user_totp.state', '=', 'active'))
    .leftJoin('custom_roles', (j) => j.onRef('custom_roles.id', '=', 'memberships.role_id').onRef('custom_roles.org_id', '=', 'memberships.org_id'))
    .select(['memberships.user_id', 'users.email', 'memberships.role', 'memberships.role_id', 'custom_roles.name as role_name', 'custom_roles.rules'])
    .where('memberships.org_id', '=', orgId)
    .where('user_totp.user_id', 'is', null)
    .orderBy('users.email')
    .execute();
}

/** Every member's email: the audit log names locked accounts by id. */
export function memberEmails(db: Db, orgId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['memberships.user_id', 'users.email'])
    .where('memberships.org_id', '=', orgId)
    .execute();
}
