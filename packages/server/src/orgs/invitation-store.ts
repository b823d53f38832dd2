import type { Db } from '../storage/database.js';

export function insertInvitation(
  db: Db,
  row: { id: string; orgId: string; email: string; role: string; roleId: string | null; digest: string; invitedBy: string; now: number; expiresAt: number },
): Promise<unknown> {
  return db
    .insertInto('invitations')
    .values({
      id: row.id,
      org_id: row.orgId,
      email: row.email,
      role: row.role,
      role_id: row.roleId,
      token_digest: row.digest,
      invited_by: row.invitedBy,
      created_at: row.now,
      expires_at: row.expiresAt,
      accepted_at: null,
      accepted_by: null,
      revoked_at: null,
    })
    .execute();
}

/** The invitation behind a token digest, with its org's name (for the acceptance). */
export function findInvitationByDigest(db: Db, digest: string) {
  return db
    .selectFrom('invitations')
    .innerJoin('orgs', 'orgs.id', 'invitations.org_id')
    .select([
      'invitations.id',
      'invitations.org_id',
      'orgs.name as org_name',
      'invitations.email',
      'invitations.role',
      'invitations.role_id',
      'invitations.token_digest',
      'invitations.expires_at',
      'invitations.accepted_at',
      'invitations.revoked_at',
    ])
    .where('invitations.token_digest', '=', digest)
    .executeTakeFirst();
}

/** An org's invitations that can still be accepted, newest first, with who sent them. */
export function listPendingInvitations(db: Db, orgId: string, now: number) {
  return db
    .selectFrom('invitations')
    .leftJoin('users', 'users.id', 'invitations.invited_by')
    .leftJoin('custom_roles', 'custom_roles.id', 'invitations.role_id')
    .select(['invitations.id', 'invitations.email', 'invitations.role', 'invitations.role_id', 'custom_roles.name as role_name', 'invitations.invited_by', 'users.email as inviter_email', 'invitations.created_at', 'invitations.expires_at'])
    .where('invitations.org_id', '=', orgId)
    .where('invitations.accepted_at', 'is', null)
    .where('invitations.revoked_at', 'is', null)
    .where('invitations.expires_at', '>', now)
    .orderBy('invitations.created_at', 'desc')
    .orderBy('invitations.id', 'desc')
    .execute();
}

/**
 * Revokes the org's unaccepted invitations matching `which` (one id, or every one for an email);
 * returns the ids it revoked. Expired ones count too, so a revoked list never hides a live token.
 */
export async function revokeInvitations(db: Db, orgId: string, which: { id: string } | { email: string }, now: number): Promise<string[]> {
  let q = db.selectFrom('invitations').select('id').where('org_id', '=', orgId).where('accepted_at', 'is', null).where('revoked_at', 'is', null);
  q = 'id' in which ? q.where('id', '=', which.id) : q.where('email', '=', which.email);
  const ids = (await q.execute()).map((r) => r.id);
  if (ids.length > 0) await db.updateTable('invitations').set({ revoked_at: now }).where('id', 'in', ids).where('revoked_at', 'is', null).where('accepted_at', 'is', null).execute();
  return ids;
}

/** Compare-and-set: of two acceptances racing (or an acceptance and a revocation), one wins. */
export async function markAccepted(db: Db, id: string, userId: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('invitations')
    .set({ accepted_at: now, accepted_by: userId })
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function isMemberByEmail(db: Db, orgId: string, email: string): Promise<boolean> {
  const row = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select('memberships.user_id')
    .where('memberships.org_id', '=', orgId)
    .where('users.email', '=', email)
    .executeTakeFirst();
  return row !== undefined;
}
