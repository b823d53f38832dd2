import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

export type ApiTokenRow = Database['api_tokens'];
export type ApiTokenGrantRow = Database['api_token_grants'];

/** A token row as authentication needs it: with its grants. */
export interface AuthTokenRow extends ApiTokenRow {
  grants: ApiTokenGrantRow[];
}

export async function insertApiToken(db: Db, row: ApiTokenRow, grants: readonly ApiTokenGrantRow[]): Promise<void> {
  await db.insertInto('api_tokens').values(row).execute();
  if (grants.length > 0) await db.insertInto('api_token_grants').values([...grants]).execute();
}

export async function findApiTokenByDigest(db: Db, digest: string): Promise<AuthTokenRow | undefined> {
  const row = await db.selectFrom('api_tokens').selectAll().where('token_digest', '=', digest).executeTakeFirst();
  if (!row) return undefined;
  const grants = await db.selectFrom('api_token_grants').selectAll().where('token_id', '=', row.id).execute();
  return { ...row, grants };
}

export function listApiTokens(db: Db, orgId: string) {
  return db.selectFrom('api_tokens').selectAll().where('org_id', '=', orgId).orderBy('created_at', 'desc').orderBy('id').execute();
}

/** The grants of an org's tokens, with names for display. */
export function listApiTokenGrants(db: Db, orgId: string) {
  return db
    .selectFrom('api_token_grants')
    .innerJoin('api_tokens', 'api_tokens.id', 'api_token_grants.token_id')
    .innerJoin('projects', 'projects.id', 'api_token_grants.project_id')
    .leftJoin('environments', 'environments.id', 'api_token_grants.environment_id')
    .select(['api_token_grants.token_id', 'projects.id as project_id', 'projects.name as project_name', 'environments.id as environment_id', 'environments.name as environment_name'])
    .where('api_tokens.org_id', '=', orgId)
    .orderBy('projects.name')
    .orderBy('environments.name')
    .execute();
}

export function findApiToken(db: Db, orgId: string, id: string) {
  return db.selectFrom('api_tokens').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

export function findApiTokenGrants(db: Db, id: string) {
  return db.selectFrom('api_token_grants').selectAll().where('token_id', '=', id).execute();
}

export function revokeApiToken(db: Db, orgId: string, id: string, now: number): Promise<unknown> {
  return db.updateTable('api_tokens').set({ revoked_at: now }).where('org_id', '=', orgId).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

/** The old token of a rotation: it lives until `graceEndsAt`, then never again. */
export function markApiTokenRotated(db: Db, orgId: string, id: string, now: number, graceEndsAt: number, replacedBy: string): Promise<unknown> {
  return db
    .updateTable('api_tokens')
    .set({ rotated_at: now, replaced_by: replacedBy, expires_at: graceEndsAt })
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .execute();
}

/** Adds the uses counted in memory since the last write: one write a minute at most per token. */
export function markApiTokenUsed(db: Db, id: string, now: number, ip: string | null, uses: number): Promise<unknown> {
  return db
    .updateTable('api_tokens')
    .set((eb) => ({ last_used_at: now, last_used_ip: ip, use_count: eb('use_count', '+', uses) }))
    .where('id', '=', id)
    .execute();
}

/**
 * Revokes the live user tokens a user created in the org (a member removed from it); returns their
 * ids. Org (service) tokens are left alone: they belong to the org, not to the member.
 */
export async function revokeApiTokensCreatedBy(db: Db, orgId: string, userId: string, now: number): Promise<string[]> {
  const live = await db
    .selectFrom('api_tokens')
    .select('id')
    .where('org_id', '=', orgId)
    .where('created_by', '=', userId)
    .where('owner', '=', 'user')
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  const ids = live.map((r) => r.id);
  if (ids.length > 0) await db.updateTable('api_tokens').set({ revoked_at: now }).where('org_id', '=', orgId).where('id', 'in', ids).where('revoked_at', 'is', null).execute();
  return ids;
}

/** The live tokens bound to a client certificate, newest first (a rotation's successor before its predecessor). */
export function findLiveApiTokensByClientCert(db: Db, sha256: string, now: number) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'org_id', 'token_digest'])
    .where('client_cert_sha256', '=', sha256)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(10)
    .execute();
}

export function setApiTokenClientCert(db: Db, orgId: string, id: string, sha256: string | null): Promise<unknown> {
  return db.updateTable('api_tokens').set({ client_cert_sha256: sha256 }).where('org_id', '=', orgId).where('id', '=', id).execute();
}

/** Clears a binding from the org's other tokens that hold it (a rotation's predecessors); returns their ids. */
export async function clearApiTokenClientCert(db: Db, orgId: string, sha256: string, exceptId: string): Promise<string[]> {
  const rows = await db.selectFrom('api_tokens').select('id').where('org_id', '=', orgId).where('client_cert_sha256', '=', sha256).where('id', '!=', exceptId).execute();
  const ids = rows.map((r) => r.id);
  if (ids.length > 0) await db.updateTable('api_tokens').set({ client_cert_sha256: null }).where('org_id', '=', orgId).where('id', 'in', ids).execute();
  return ids;
}

/** The tokens a token replaced by rotation, nearest first (each names its successor in replaced_by). */
export async function predecessorIds(db: Db, id: string): Promise<string[]> {
  const out: string[] = [];
  let current = id;
  // Bounded: a chain is as long as the token's rotations, and a cycle cannot form (ids are new).
  for (let i = 0; i < 100; i++) {
    const prev = await db.selectFrom('api_tokens').select('id').where('replaced_by', '=', current).executeTakeFirst();
    if (!prev) break;
    out.push(prev.id);
    current = prev.id;
  }
  return out;
}
