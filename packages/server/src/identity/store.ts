import type { Db } from '../storage/database.js';

export function insertUser(db: Db, row: { id: string; email: string; passwordHash: string; now: number }): Promise<unknown> {
  return db.insertInto('users').values({ id: row.id, email: row.email, password_hash: row.passwordHash, created_at: row.now, email_verified_at: null }).execute();
}

export function insertMembership(db: Db, row: { orgId: string; userId: string; role: string; roleId?: string | null; now: number }): Promise<unknown> {
  return db.insertInto('memberships').values({ org_id: row.orgId, user_id: row.userId, role: row.role, role_id: row.roleId ?? null, created_at: row.now }).execute();
}

/** A user with the org they belong to (one org per user until members arrive in a later issue). */
export function findUserWithMembership(db: Db, email: string) {
  return db
    .selectFrom('users')
    .innerJoin('memberships', 'memberships.user_id', 'users.id')
    .innerJoin('orgs', 'orgs.id', 'memberships.org_id')
    .select(['users.id', 'users.email', 'users.password_hash', 'memberships.role', 'orgs.id as org_id', 'orgs.name as org_name'])
    .where('users.email', '=', email)
    .orderBy('memberships.created_at')
    .executeTakeFirst();
}

/**
 * An account by email, with the org it joined first when it belongs to any: a member removed from
 * every org keeps the account (and may be invited again), so it must still be able to reset its
 * password.
 */
export function findAccount(db: Db, email: string) {
  return db
    .selectFrom('users')
    .leftJoin('memberships', 'memberships.user_id', 'users.id')
    .leftJoin('orgs', 'orgs.id', 'memberships.org_id')
    .select(['users.id', 'users.email', 'orgs.id as org_id', 'orgs.name as org_name'])
    .where('users.email', '=', email)
    .orderBy('memberships.created_at')
    .executeTakeFirst();
}

/** The org, named by id or name, if the user is a member of it. */
export function findMemberOrg(db: Db, userId: string, ref: string): Promise<{ id: string; name: string } | undefined> {
  return db
    .selectFrom('memberships')
    .innerJoin('orgs', 'orgs.id', 'memberships.org_id')
    .select(['orgs.id', 'orgs.name'])
    .where('memberships.user_id', '=', userId)
    .where((eb) => eb.or([eb('orgs.id', '=', ref), eb('orgs.name', '=', ref)]))
    .orderBy('memberships.created_at')
    .executeTakeFirst();
}

export function updatePasswordHash(db: Db, userId: string, passwordHash: string): Promise<unknown> {
  return db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

export function insertSession(
  db: Db,
  row: {
    id: string;
    orgId: string;
    userId: string;
    secondFactor: 'none' | 'totp' | 'backup_code';
    digest: string;
    now: number;
    expiresAt: number;
    idleTimeoutMs: number;
    rememberMe: boolean;
    ip: string | null;
    userAgent: string | null;
    location: string | null;
  },
): Promise<unknown> {
  return db
    .insertInto('sessions')
    .values({
      id: row.id,
      org_id: row.orgId,
      user_id: row.userId,
      token_digest: row.digest,
      created_at: row.now,
      expires_at: row.expiresAt,
      last_active_at: row.now,
      revoked_at: null,
      ip: row.ip,
      user_agent: row.userAgent,
      idle_timeout_ms: row.idleTimeoutMs,
      remember_me: row.rememberMe ? 1 : 0,
      authenticated_at: row.now,
      second_factor: row.secondFactor,
      location: row.location,
    })
    .execute();
}

/** A session with its user's role in the session's org, its org's 2FA policy and the user's 2FA state. */
function selectSession(db: Db) {
  return db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .innerJoin('memberships', (j) => j.onRef('memberships.user_id', '=', 'sessions.user_id').onRef('memberships.org_id', '=', 'sessions.org_id'))
    .innerJoin('orgs', 'orgs.id', 'sessions.org_id')
    .leftJoin('user_totp', 'user_totp.user_id', 'sessions.user_id')
    .select([
      'sessions.id',
      'sessions.org_id',
      'sessions.user_id',
      'sessions.token_digest',
      'sessions.expires_at',
      'sessions.revoked_at',
      'sessions.last_active_at',
      'sessions.idle_timeout_ms',
      'sessions.authenticated_at',
      'sessions.second_factor',
      'orgs.require_2fa',
      'user_totp.state as totp_state',
      'users.email',
      'memberships.role',
    ]);
}

export function findSessionById(db: Db, id: string) {
  return selectSession(db).where('sessions.id', '=', id).executeTakeFirst();
}

/** The session whose current refresh token has this digest. */
export function findSessionByRefreshDigest(db: Db, digest: string) {
  return selectSession(db).where('sessions.token_digest', '=', digest).executeTakeFirst();
}

/**
 * Swaps the session's refresh token, only if `oldDigest` is still the current one (of two refreshes
 * racing with one token, exactly one wins) and the session is not revoked. Remembers the old digest.
 */
export async function rotateRefreshToken(db: Db, sessionId: string, oldDigest: string, newDigest: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ token_digest: newDigest, last_active_at: now })
    .where('id', '=', sessionId)
    .where('token_digest', '=', oldDigest)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return false;
  await db.insertInto('used_refresh_tokens').values({ token_digest: oldDigest, session_id: sessionId, used_at: now }).execute();
  return true;
}

/**
 * Forgets the exchanged refresh tokens of a user's ended sessions (expired or revoked): a token of
 * an ended session is refused whether or not it is remembered, so the table stays as small as the
 * live sessions' refresh counts.
 */
export async function pruneUsedRefreshTokens(db: Db, userId: string, now: number): Promise<void> {
  const ended = db
    .selectFrom('sessions')
    .select('id')
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('revoked_at', 'is not', null)]));
  await db.deleteFrom('used_refresh_tokens').where('session_id', 'in', ended).execute();
}

/** The session an already-exchanged refresh token belonged to, with its user and org. */
export function findUsedRefreshToken(db: Db, digest: string) {
  return db
    .selectFrom('used_refresh_tokens')
    .innerJoin('sessions', 'sessions.id', 'used_refresh_tokens.session_id')
    .select(['sessions.id', 'sessions.org_id', 'sessions.user_id', 'sessions.revoked_at', 'used_refresh_tokens.used_at'])
    .where('used_refresh_tokens.token_digest', '=', digest)
    .executeTakeFirst();
}

export function markSessionAuthenticated(db: Db, id: string, now: number): Promise<unknown> {
  return db.updateTable('sessions').set({ authenticated_at: now, last_active_at: now }).where('id', '=', id).execute();
}

export function touchSession(db: Db, id: string, now: number): Promise<unknown> {
  return db.updateTable('sessions').set({ last_active_at: now }).where('id', '=', id).execute();
}

/** A user's sessions in one org that are neither revoked nor past their absolute expiry, newest first. */
export function listLiveSessions(db: Db, orgId: string, userId: string, now: number) {
  return db
    .selectFrom('sessions')
    .select(['id', 'created_at', 'expires_at', 'last_active_at', 'idle_timeout_ms', 'remember_me', 'second_factor', 'ip', 'user_agent', 'location'])
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

/** Revokes those of `ids` that are still live and belong to the user; returns the ones it revoked. */
export async function revokeUserSessions(db: Db, orgId: string, userId: string, ids: string[], now: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const live = await db
    .selectFrom('sessions')
    .select('id')
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId)
    .where('id', 'in', ids)
    .where('revoked_at', 'is', null)
    .execute();
  const revoked = live.map((r) => r.id);
  if (revoked.length > 0) await db.updateTable('sessions').set({ revoked_at: now }).where('id', 'in', revoked).where('revoked_at', 'is', null).execute();
  return revoked;
}

/** Whether the user ever signed in from this address with this client (for the new-sign-in notice). */
export async function hasSessionFrom(db: Db, userId: string, ip: string | null, userAgent: string | null): Promise<boolean> {
  let q = db.selectFrom('sessions').select('id').where('user_id', '=', userId);
  q = ip === null ? q.where('ip', 'is', null) : q.where('ip', '=', ip);
  q = userAgent === null ? q.where('user_agent', 'is', null) : q.where('user_agent', '=', userAgent);
  return (await q.limit(1).executeTakeFirst()) !== undefined;
}

/** Marks a user's unused mailed links of one purpose as used (a newer link or a password change voids them). */
export async function voidUserTokens(db: Db, userId: string, purpose: 'password_reset' | 'email_verification', now: number): Promise<void> {
  await db.updateTable('user_tokens').set({ used_at: now }).where('user_id', '=', userId).where('purpose', '=', purpose).where('used_at', 'is', null).execute();
}
