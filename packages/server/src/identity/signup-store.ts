import type { Db } from '../storage/database.js';

export function insertSignupRequest(db: Db, row: { digest: string; orgId: string; email: string; passwordHash: string; now: number; expiresAt: number }): Promise<unknown> {
  return db
    .insertInto('signup_requests')
    .values({ token_digest: row.digest, org_id: row.orgId, email: row.email, password_hash: row.passwordHash, created_at: row.now, expires_at: row.expiresAt, used_at: null })
    .execute();
}

export function findSignupRequest(db: Db, digest: string) {
  return db.selectFrom('signup_requests').selectAll().where('token_digest', '=', digest).executeTakeFirst();
}

/** Compare-and-set: of two uses of one link racing, only one wins. */
export async function useSignupRequest(db: Db, digest: string, now: number): Promise<boolean> {
  const res = await db.updateTable('signup_requests').set({ used_at: now }).where('token_digest', '=', digest).where('used_at', 'is', null).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Once an account exists for the email, its other pending sign-ups are spent. */
export async function voidSignupRequests(db: Db, email: string, now: number): Promise<void> {
  await db.updateTable('signup_requests').set({ used_at: now }).where('email', '=', email).where('used_at', 'is', null).execute();
}

/** Pending sign-ups past their expiry hold a password hash nobody can use any more. */
export async function deleteExpiredSignupRequests(db: Db, now: number): Promise<void> {
  await db.deleteFrom('signup_requests').where('expires_at', '<=', now).execute();
}

/** A user by email whether or not they belong to any org (`store.findUserWithMembership` needs one). */
export function findUserByEmail(db: Db, email: string) {
  return db.selectFrom('users').select(['id', 'email', 'password_hash']).where('email', '=', email).executeTakeFirst();
}

export async function isMember(db: Db, orgId: string, userId: string): Promise<boolean> {
  const row = await db.selectFrom('memberships').select('user_id').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst();
  return row !== undefined;
}

/** Whoever used a link mailed to the address has shown they read it. */
export async function markEmailVerified(db: Db, userId: string, now: number): Promise<void> {
  await db.updateTable('users').set({ email_verified_at: now }).where('id', '=', userId).where('email_verified_at', 'is', null).execute();
}
