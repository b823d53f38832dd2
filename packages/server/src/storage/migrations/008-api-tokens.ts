import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * Issue 4: the full API token model.
 * - `api_tokens` is rebuilt (SQLite cannot drop a NOT NULL column): a token no longer names one
 *   project environment but has a `type` (read-only, deploy, admin, custom) with its `permissions`
 *   (JSON array), an `owner` (`user`, or `org` for service tokens that outlive their creator),
 *   optional `allowed_ips` (JSON array of canonical CIDR), a `use_count`, and `rotated_at` /
 *   `replaced_by` for rotation with a grace period (the grace is the old row's `expires_at`).
 *   `access` stays, nullable, for tokens created with the original read/write shorthand.
 * - `api_token_grants`: what a token may reach — a project (`environment_id` null: all of its
 *   environments) or one environment. Existing tokens keep their one environment.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  // The schema of this migration is not the app's current one, so it is typed loosely here.
  const k = db as Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  await k.schema
    .createTable('api_tokens_v8')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_digest', 'text', (c) => c.notNull().unique())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('access', 'text')
    .addColumn('permissions', 'text', (c) => c.notNull())
    .addColumn('allowed_ips', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms)
    .addColumn('revoked_at', ms)
    .addColumn('rotated_at', ms)
    .addColumn('replaced_by', 'text')
    .addColumn('last_used_at', ms)
    .addColumn('last_used_ip', 'text')
    .addColumn('use_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  const legacy = [
    ['read', 'read-only', ['project:read', 'secret:read_keys', 'secret:read_values']],
    ['write', 'custom', ['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write', 'secret:delete']],
  ] as const;
  for (const [access, type, permissions] of legacy) {
    await k
      .insertInto('api_tokens_v8')
      .columns(['id', 'org_id', 'name', 'token_digest', 'prefix', 'created_by', 'owner', 'type', 'access', 'permissions', 'created_at', 'expires_at', 'revoked_at', 'last_used_at', 'last_used_ip'])
      .expression(
        k
          .selectFrom('api_tokens')
          .select((eb) => [
            'id',
            'org_id',
            'name',
            'token_digest',
            'prefix',
            'created_by',
            eb.cast(eb.val('user'), 'text').as('owner'),
            eb.cast(eb.val(type), 'text').as('type'),
            'access',
            eb.cast(eb.val(JSON.stringify(permissions)), 'text').as('permissions'),
            'created_at',
            'expires_at',
            'revoked_at',
            'last_used_at',
            'last_used_ip',
          ])
          .where('access', '=', access),
      )
      .execute();
  }

  await k.schema
    .createTable('api_token_grants')
    .addColumn('token_id', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('environment_id', 'text', (c) => c.references('environments.id').onDelete('cascade'))
    .execute();
  await k
    .insertInto('api_token_grants')
    .columns(['token_id', 'project_id', 'environment_id'])
    .expression(k.selectFrom('api_tokens').select(['id', 'project_id', 'environment_id']).where('access', 'in', ['read', 'write']))
    .execute();

  await k.schema.dropTable('api_tokens').execute();
  await k.schema.alterTable('api_tokens_v8').renameTo('api_tokens').execute();
  await k.schema.createIndex('api_tokens_org').on('api_tokens').column('org_id').execute();
  await k.schema.createIndex('api_token_grants_token').on('api_token_grants').column('token_id').execute();
}
