import type { Kysely } from 'kysely';

/**
 * Issue 6 (mutual TLS): an API token may be bound to a client certificate, by the SHA-256 of its
 * DER (lower-case hex). A request over mutual TLS presenting that certificate, and no bearer token,
 * authenticates as the token; the token presented as a bearer needs the certificate too.
 * Indexed: certificate-only requests look their token up by it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('client_cert_sha256', 'text').execute();
  await db.schema.createIndex('api_tokens_client_cert').on('api_tokens').column('client_cert_sha256').execute();
}
