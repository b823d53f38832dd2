import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/** Issue 3: open sign-up (an org setting, off by default) and invitations (grown on by issue 4). */
export async function up(db: Kysely<unknown>, t: DialectTraits): Promise<void> {
  const ms = t.epochMs;
  // Off by default: an org is closed to strangers until an admin opens it.
  await db.schema.alterTable('orgs').addColumn('open_signup', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  // Comma-separated lower-case domains; null = any domain.
  await db.schema.alterTable('orgs').addColumn('signup_domains', 'text').execute();
  await db.schema.alterTable('orgs').addColumn('signup_role', 'text', (c) => c.notNull().defaultTo('viewer')).execute();

  // A sign-up waiting for its mailed link. No users row exists until the link is used, so a stranger
  // who types someone else's address creates nothing that could block that person's own sign-up.
  // The password is kept as an argon2id hash only; the token as its SHA-256 digest.
  await db.schema
    .createTable('signup_requests')
    .addColumn('token_digest', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema.createIndex('signup_requests_email').on('signup_requests').column('email').execute();
  await db.schema.createIndex('signup_requests_expiry').on('signup_requests').column('expires_at').execute();

  // Kept after acceptance, revocation or expiry: issue 4's member management shows who invited whom.
  await db.schema
    .createTable('invitations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('token_digest', 'text', (c) => c.notNull().unique())
    .addColumn('invited_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('accepted_at', ms)
    .addColumn('accepted_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('revoked_at', ms)
    .execute();
  await db.schema.createIndex('invitations_org_email').on('invitations').columns(['org_id', 'email']).execute();
}
