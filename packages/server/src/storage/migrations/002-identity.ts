import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/** Issue 3: sign-in lockout state, per-session idle timeouts, TOTP two-factor and backup codes. */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  // Keyed by a digest of the email, for known and unknown accounts alike: the lock must behave the
  // same for both, and unknown emails typed at the sign-in form are nobody's business to keep.
  await db.schema
    .createTable('login_throttle')
    .addColumn('subject', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('locked_until', ms)
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();

  // Fixed when the session is made, so changing the setting later never ends sessions early.
  await db.schema.alterTable('sessions').addColumn('idle_timeout_ms', ms, (c) => c.notNull().defaultTo(30 * 60 * 1000)).execute();
  await db.schema.alterTable('sessions').addColumn('remember_me', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  // Single-use links mailed to a user (password reset, email verification), stored as digests.
  await db.schema
    .createTable('user_tokens')
    .addColumn('token_digest', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema.createIndex('user_tokens_user').on('user_tokens').columns(['user_id', 'purpose']).execute();
  await db.schema.alterTable('users').addColumn('email_verified_at', ms).execute();

  // Which second factor the sign-in used ('none', 'totp', 'backup_code'): the session's 2FA level.
  await db.schema.alterTable('sessions').addColumn('second_factor', 'text', (c) => c.notNull().defaultTo('none')).execute();
  // Org policy: who must have two-factor authentication ('off', 'admins' = owners and admins, 'all').
  await db.schema.alterTable('orgs').addColumn('require_2fa', 'text', (c) => c.notNull().defaultTo('off')).execute();
  // Org overrides of deployment settings; null = the deployment's value. Policies may only tighten.
  await db.schema.alterTable('orgs').addColumn('session_limit', 'integer').execute();
  await db.schema.alterTable('orgs').addColumn('password_min_length', 'integer').execute();
  await db.schema.alterTable('orgs').addColumn('password_min_score', 'integer').execute();
  await db.schema.alterTable('orgs').addColumn('password_require_classes', 'integer').execute();
  // When the user last proved who they are on this session (sign-in or re-authentication): step-up.
  await db.schema.alterTable('sessions').addColumn('authenticated_at', ms, (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id', 'org_id']).execute();

  // One authenticator per user. The seed is AES-256-GCM under a root-derived key, bound to the user.
  await db.schema
    .createTable('user_totp')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret_ciphertext', t.blob, (c) => c.notNull())
    .addColumn('secret_nonce', t.blob, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('last_used_step', 'integer')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('confirmed_at', ms)
    .execute();

  // HMAC-SHA256 digests under a root-derived pepper: a copied database alone cannot test guesses.
  await db.schema
    .createTable('backup_codes')
    .addColumn('code_digest', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema.createIndex('backup_codes_user').on('backup_codes').column('user_id').execute();
}
