import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

export type ApiTokenRow = Database['api_tokens'];

export function insertApiToken(db: Db, row: ApiTokenRow): Promise<unknown> {
  return db.insertInto('api_tokens').values(row).execute();
}

export function findApiTokenByDigest(db: Db, digest: string) {
  return db.selectFrom('api_tokens').selectAll().where('token_digest', '=', digest).executeTakeFirst();
}

export function listApiTokens(db: Db, orgId: string) {
  return db
    .selectFrom('api_tokens')
    .innerJoin('projects', 'projects.id', 'api_tokens.project_id')
    .innerJoin('environments', 'environments.id', 'api_tokens.environment_id')
    .select([
      'api_tokens.id',
      'api_tokens.name',
      'api_tokens.prefix',
      'api_tokens.access',
      'api_tokens.created_at',
      'api_tokens.created_by',
      'api_tokens.expires_at',
      'api_tokens.revoked_at',
      'api_tokens.last_used_at',
      'api_tokens.last_used_ip',
      'projects.id as project_id',
      'projects.name as project_name',
      'environments.id as environment_id',
      'environments.name as environment_name',
    ])
    .where('api_tokens.org_id', '=', orgId)
    .orderBy('api_tokens.created_at', 'desc')
    .execute();
}

export function findApiToken(db: Db, orgId: string, id: string) {
  return db.selectFrom('api_tokens').select(['id', 'name', 'revoked_at']).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

export function revokeApiToken(db: Db, orgId: string, id: string, now: number): Promise<unknown> {
  return db.updateTable('api_tokens').set({ revoked_at: now }).where('org_id', '=', orgId).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

export function markApiTokenUsed(db: Db, id: string, now: number, ip: string | null): Promise<unknown> {
  return db.updateTable('api_tokens').set({ last_used_at: now, last_used_ip: ip }).where('id', '=', id).execute();
}

/** Revokes the live tokens a user created in the org (a member removed from it); returns their ids. */
export async function revokeApiTokensCreatedBy(db: Db, orgId: string, userId: string, now: number): Promise<string[]> {
  const live = await db
    .selectFrom('api_tokens')
    .select('id')
    .where('org_id', '=', orgId)
    .where('created_by', '=', userId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  const ids = live.map((r) => r.id);
  if (ids.length > 0) await db.updateTable('api_tokens').set({ revoked_at: now }).where('org_id', '=', orgId).where('id', 'in', ids).where('revoked_at', 'is', null).execute();
  return ids;
}
