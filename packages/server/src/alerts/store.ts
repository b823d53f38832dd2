import type { Db } from '../storage/database.js';

export async function ruleSettings(db: Db, orgId: string) {
  return db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).execute();
}

export async function putRuleSetting(db: Db, row: { org_id: string; rule: string; enabled: number; threshold: number | null; window_s: number | null; updated_at: number; updated_by: string | null }) {
  await db.deleteFrom('alert_rules').where('org_id', '=', row.org_id).where('rule', '=', row.rule).execute();
  await db.insertInto('alert_rules').values(row).execute();
}

/** The org's latest alert of `rule` about `subject` still open for de-duplication (last seen at or after `since`). */
export function openAlert(db: Db, orgId: string, rule: string, subject: string, since: number) {
  return db
    .selectFrom('alerts')
    .select(['id', 'count', 'last_at'])
    .where('org_id', '=', orgId)
    .where('rule', '=', rule)
    .where('subject', '=', subject)
    .where('last_at', '>=', since)
    .orderBy('last_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function bumpAlert(db: Db, id: string, at: number): Promise<void> {
  await db
    .updateTable('alerts')
    .set((eb) => ({ count: eb('count', '+', 1), last_at: at }))
    .where('id', '=', id)
    .execute();
}

export async function insertAlert(db: Db, row: { id: string; org_id: string; rule: string; subject: string; summary: string; details: string; first_at: number; last_at: number; count: number; audit_id: number }) {
  await db.insertInto('alerts').values(row).execute();
}

export function listAlerts(db: Db, orgId: string, opts: { since?: number; rule?: string; limit: number }) {
  let q = db.selectFrom('alerts').selectAll().where('org_id', '=', orgId);
  if (opts.since !== undefined) q = q.where('last_at', '>=', opts.since);
  if (opts.rule !== undefined) q = q.where('rule', '=', opts.rule);
  return q.orderBy('first_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
}

/** Who an alert is mailed to: the org's owners and admins. */
export async function adminEmails(db: Db, orgId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select('users.email')
    .where('memberships.org_id', '=', orgId)
    .where('memberships.role', 'in', ['owner', 'admin'])
    .orderBy('users.email')
    .execute();
  return rows.map((r) => r.email);
}

export async function memberRole(db: Db, orgId: string, userId: string): Promise<string | null> {
  const row = await db.selectFrom('memberships').select('role').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst();
  return row?.role ?? null;
}

export async function orgName(db: Db, orgId: string): Promise<string> {
  return (await db.selectFrom('orgs').select('name').where('id', '=', orgId).executeTakeFirst())?.name ?? orgId;
}

/** The country a session was signed in from (GeoIP, at sign-in), if known. */
export async function sessionCountry(db: Db, sessionId: string): Promise<{ code: string; name: string } | null> {
  const row = await db.selectFrom('sessions').select('location').where('id', '=', sessionId).executeTakeFirst();
  if (!row?.location) return null;
  const loc = JSON.parse(row.location) as { countryCode?: unknown; country?: unknown };
  return typeof loc.countryCode === 'string' ? { code: loc.countryCode, name: typeof loc.country === 'string' ? loc.country : loc.countryCode } : null;
}

export async function knownCountries(db: Db, orgId: string, userId: string): Promise<string[]> {
  const rows = await db.selectFrom('alert_countries').select('country_code').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
  return rows.map((r) => r.country_code);
}

export async function addCountry(db: Db, row: { org_id: string; user_id: string; country_code: string; first_at: number }): Promise<void> {
  await db.insertInto('alert_countries').values(row).onConflict((oc) => oc.doNothing()).execute();
}

export async function userEmail(db: Db, userId: string): Promise<string | null> {
  return (await db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst())?.email ?? null;
}
