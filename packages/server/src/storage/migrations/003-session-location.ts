import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';

/**
 * Issue 3: where a session was signed in from, as a GeoIP database placed it at sign-in — JSON
 * `{countryCode, country, city}` (geo/location.ts), null without a database or for an address it
 * does not know. Kept at sign-in rather than looked up when listed: the database changes weekly,
 * and the list (and later the new-country alert) should say where the sign-in was placed then.
 */
export async function up(db: Kysely<unknown>, _t: DialectTraits): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('location', 'text').execute();
}
