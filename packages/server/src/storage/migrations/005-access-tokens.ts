import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * Issue 3: signed access tokens and rotating refresh tokens.
 * - `signing_keys`: the instance's JWT signing keys. The private key is sealed by the root key
 *   (AES-256-GCM, bound to its kid); the public half is published in the JWKS until every token
 *   it signed has expired.
 * - `sessions.token_digest` now holds the digest of the session's current refresh token;
 *   `used_refresh_tokens` remembers the ones already exchanged, so presenting one again is
 *   recognised as theft (reuse detection) rather than answered as merely unknown.
 */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_key', t.blob, (c) => c.notNull())
    .addColumn('nonce', t.blob, (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('retired_at', ms)
    .execute();

  await db.schema
    .createTable('used_refresh_tokens')
    .addColumn('token_digest', 'text', (c) => c.primaryKey())
    .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
    .addColumn('used_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('used_refresh_tokens_session').on('used_refresh_tokens').column('session_id').execute();
}
