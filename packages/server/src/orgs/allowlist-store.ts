import type { Db } from '../storage/database.js';

/** The SQL of the IP allowlist and its emergency allowances (policy lives in allowlist.ts). */

export interface AllowlistEntryRow {
  cidr: string;
  label: string | null;
  created_at: number;
}

export async function findEnabled(db: Db, orgId: string): Promise<boolean> {
  const row = await db.selectFrom('ip_allowlists').select('enabled').where('org_id', '=', orgId).executeTakeFirst();
  return row?.enabled === 1;
}

export function listEntries(db: Db, orgId: string): Promise<AllowlistEntryRow[]> {
  return db.selectFrom('ip_allowlist_entries').select(['cidr', 'label', 'created_at']).where('org_id', '=', orgId).orderBy('created_at').orderBy('cidr').execute();
}

export async function setEnabled(db: Db, orgId: string, enabled: boolean, now: number): Promise<void> {
  await db
    .insertInto('ip_allowlists')
    .values({ org_id: orgId, enabled: enabled ? 1 : 0, updated_at: now })
    .onConflict((oc) => oc.column('org_id').doUpdateSet({ enabled: enabled ? 1 : 0, updated_at: now }))
    .execute();
}

export async function insertEntry(db: Db, row: { orgId: string; cidr: string; label: string | null; createdBy: string; now: number }): Promise<void> {
  await db.insertInto('ip_allowlist_entries').values({ org_id: row.orgId, cidr: row.cidr, label: row.label, created_by: row.createdBy, created_at: row.now }).execute();
}

export async function deleteEntry(db: Db, orgId: string, cidr: string): Promise<boolean> {
  const res = await db.deleteFrom('ip_allowlist_entries').where('org_id', '=', orgId).where('cidr', '=', cidr).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Live emergency allowances of the org: who may come in from where, until when. */
export function listLiveAllowances(db: Db, orgId: string, now: number) {
  return db.selectFrom('emergency_allowances').select(['user_id', 'ip', 'expires_at']).where('org_id', '=', orgId).where('expires_at', '>', now).execute();
}

export async function upsertAllowance(db: Db, row: { orgId: string; userId: string; ip: string; now: number; expiresAt: number }): Promise<void> {
  await db
    .insertInto('emergency_allowances')
    .values({ org_id: row.orgId, user_id: row.userId, ip: row.ip, created_at: row.now, expires_at: row.expiresAt })
    .onConflict((oc) => oc.columns(['org_id', 'user_id', 'ip']).doUpdateSet({ created_at: row.now, expires_at: row.expiresAt }))
    .execute();
}

/** The orgs where the user is an owner and the allowlist is on: where emergency access means something. */
export function findOwnedAllowlistedOrgs(db: Db, userId: string): Promise<{ id: string; name: string }[]> {
  return db
    .selectFrom('memberships')
    .innerJoin('ip_allowlists', 'ip_allowlists.org_id', 'memberships.org_id')
    .innerJoin('orgs', 'orgs.id', 'memberships.org_id')
    .select(['orgs.id', 'orgs.name'])
    .where('memberships.user_id', '=', userId)
    .where('memberships.role', '=', 'owner')
    .where('ip_allowlists.enabled', '=', 1)
    .orderBy('orgs.id')
    .execute();
}

export function findUserByEmail(db: Db, email: string) {
  return db.selectFrom('users').select(['id', 'email']).where('email', '=', email).executeTakeFirst();
}

/** A new code voids the user's older ones. */
export async function insertCode(db: Db, row: { digest: string; userId: string; now: number; expiresAt: number }): Promise<void> {
  await db.updateTable('emergency_access_codes').set({ used_at: row.now }).where('user_id', '=', row.userId).where('used_at', 'is', null).execute();
  await db.insertInto('emergency_access_codes').values({ code_digest: row.digest, user_id: row.userId, created_at: row.now, expires_at: row.expiresAt, used_at: null }).execute();
}

export function listLiveCodes(db: Db, userId: string, now: number): Promise<{ code_digest: string }[]> {
  return db.selectFrom('emergency_access_codes').select('code_digest').where('user_id', '=', userId).where('used_at', 'is', null).where('expires_at', '>', now).execute();
}

/** Compare-and-set: of two uses racing, only one wins. */
export async function useCode(db: Db, digest: string, now: number): Promise<boolean> {
  const res = await db.updateTable('emergency_access_codes').set({ used_at: now }).where('code_digest', '=', digest).where('used_at', 'is', null).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
