import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

/** A secret row joined with its current version's ciphertext and the name of who wrote it last. */
function secretsWithCurrent(db: Db, orgId: string, environmentId: string) {
  return db
    .selectFrom('secrets')
    .innerJoin('secret_versions', (j) =>
      j.onRef('secret_versions.secret_id', '=', 'secrets.id').onRef('secret_versions.version', '=', 'secrets.current_version'),
    )
    .leftJoin('users', 'users.id', 'secrets.updated_by_id')
    .leftJoin('api_tokens', 'api_tokens.id', 'secrets.updated_by_id')
    .select([
      'secrets.id',
      'secrets.org_id',
      'secrets.key',
      'secrets.project_id',
      'secrets.environment_id',
      'secrets.current_version',
      'secrets.deleted_at',
      'secrets.created_at',
      'secrets.updated_at',
      'secrets.updated_by_type',
      'secrets.updated_by_id',
      'users.email as updated_by_email',
      'api_tokens.name as updated_by_token',
      'secret_versions.ciphertext',
      'secret_versions.nonce',
      'secret_versions.key_version',
    ])
    .where('secrets.org_id', '=', orgId)
    .where('secrets.environment_id', '=', environmentId);
}

export type SecretRow = NonNullable<Awaited<ReturnType<typeof findSecret>>>;

/** The query behind `listSecrets`, unexecuted, for a PreparedQuery on the hot path. */
export function listSecretsQuery(db: Db, orgId: string, environmentId: string, includeDeleted: boolean) {
  let q = secretsWithCurrent(db, orgId, environmentId);
  if (!includeDeleted) q = q.where('secrets.deleted_at', 'is', null);
  return q.orderBy('secrets.key');
}

export function listSecrets(db: Db, orgId: string, environmentId: string, includeDeleted: boolean) {
  return listSecretsQuery(db, orgId, environmentId, includeDeleted).execute();
}

/** The query behind `findSecret`, unexecuted, for a PreparedQuery on the hot path. */
export function findSecretQuery(db: Db, orgId: string, environmentId: string, key: string) {
  return secretsWithCurrent(db, orgId, environmentId).where('secrets.key', '=', key);
}

export function findSecret(db: Db, orgId: string, environmentId: string, key: string) {
  return findSecretQuery(db, orgId, environmentId, key).executeTakeFirst();
}

export function findSecretsByKeys(db: Db, orgId: string, environmentId: string, keys: string[]) {
  return secretsWithCurrent(db, orgId, environmentId).where('secrets.key', 'in', keys).execute();
}

export function insertSecret(db: Db, row: Database['secrets']): Promise<unknown> {
  return db.insertInto('secrets').values(row).execute();
}

/**
 * Compare-and-set of the version counter: succeeds only if nobody moved it since we read it.
 * On PostgreSQL the UPDATE also locks the row until commit.
 */
/** The query behind `advanceVersion`, unexecuted (parameters: orgId, id, from, to, now, actorType, actorId). */
export function advanceVersionQuery(db: Db, orgId: string, id: string, from: number, to: number, now: number, actorType: string, actorId: string) {
  return db
    .updateTable('secrets')
    .set({ current_version: to, deleted_at: null, updated_at: now, updated_by_type: actorType, updated_by_id: actorId })
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .where('current_version', '=', from);
}

export async function setDeleted(
  db: Db,
  row: { orgId: string; id: string; version: number; deletedAt: number | null; now: number; actorType: string; actorId: string },
): Promise<boolean> {
  const res = await db
    .updateTable('secrets')
    .set({ deleted_at: row.deletedAt, updated_at: row.now, updated_by_type: row.actorType, updated_by_id: row.actorId })
    .where('org_id', '=', row.orgId)
    .where('id', '=', row.id)
    .where('current_version', '=', row.version)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Column order of `insertVersionQuery`'s parameters. */
export const VERSION_COLUMNS = [
  'org_id', 'secret_id', 'version', 'action', 'ciphertext', 'nonce', 'key_version', 'created_at', 'created_by_type', 'created_by_id',
] as const;

/** One version's INSERT, unexecuted, with the columns in VERSION_COLUMNS order. */
export function insertVersionQuery(db: Db, ...values: unknown[]) {
  return db.insertInto('secret_versions').values(Object.fromEntries(VERSION_COLUMNS.map((c, i) => [c, values[i]])) as Database['secret_versions']);
}

export function listVersions(db: Db, orgId: string, secretId: string) {
  return db
    .selectFrom('secret_versions')
    .leftJoin('users', 'users.id', 'secret_versions.created_by_id')
    .leftJoin('api_tokens', 'api_tokens.id', 'secret_versions.created_by_id')
    .select([
      'secret_versions.version',
      'secret_versions.action',
      'secret_versions.created_at',
      'secret_versions.created_by_type',
      'secret_versions.created_by_id',
      'users.email as created_by_email',
      'api_tokens.name as created_by_token',
    ])
    .where('secret_versions.org_id', '=', orgId)
    .where('secret_versions.secret_id', '=', secretId)
    .orderBy('secret_versions.version', 'desc')
    .execute();
}

export function findVersionCipher(db: Db, orgId: string, secretId: string, version: number) {
  return db
    .selectFrom('secret_versions')
    .select(['ciphertext', 'nonce', 'key_version'])
    .where('org_id', '=', orgId)
    .where('secret_id', '=', secretId)
    .where('version', '=', version)
    .executeTakeFirst();
}

/** Every stored version with what its associated data needs (org, project, env, key, version). */
export function versionsWithAddress(db: Db) {
  return db
    .selectFrom('secret_versions')
    .innerJoin('secrets', 'secrets.id', 'secret_versions.secret_id')
    .select([
      'secret_versions.org_id',
      'secret_versions.secret_id',
      'secret_versions.version',
      'secret_versions.ciphertext',
      'secret_versions.nonce',
      'secret_versions.key_version',
      'secrets.project_id',
      'secrets.environment_id',
      'secrets.key',
    ]);
}

/** Versions still encrypted under an older data key. */
export function versionsOnOldKeys(db: Db, orgId: string, activeKeyVersion: number, limit: number) {
  return versionsWithAddress(db)
    .where('secret_versions.org_id', '=', orgId)
    .where('secret_versions.key_version', '<>', activeKeyVersion)
    .limit(limit)
    .execute();
}

export async function countVersionsOnOldKeys(db: Db, orgId: string, activeKeyVersion: number): Promise<number> {
  const row = await db
    .selectFrom('secret_versions')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('org_id', '=', orgId)
    .where('key_version', '<>', activeKeyVersion)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export function replaceVersionCipher(
  db: Db,
  row: { orgId: string; secretId: string; version: number; fromKeyVersion: number; ciphertext: Buffer; nonce: Buffer; keyVersion: number },
): Promise<unknown> {
  return db
    .updateTable('secret_versions')
    .set({ ciphertext: row.ciphertext, nonce: row.nonce, key_version: row.keyVersion })
    .where('org_id', '=', row.orgId)
    .where('secret_id', '=', row.secretId)
    .where('version', '=', row.version)
    .where('key_version', '=', row.fromKeyVersion)
    .execute();
}
