import type { Db } from '../storage/database.js';
import { OPERATOR_ORG_SETTING } from '../identity/settings-store.js';
import type { QuotaKind } from './plans.js';

/** The org's own plan; null: none set (the instance default applies). */
export async function findOrgPlan(db: Db, orgId: string): Promise<string | null> {
  const row = await db.selectFrom('orgs').select('plan').where('id', '=', orgId).executeTakeFirst();
  return row?.plan ?? null;
}

export function setOrgPlan(db: Db, orgId: string, plan: string | null): Promise<unknown> {
  return db.updateTable('orgs').set({ plan }).where('id', '=', orgId).execute();
}

/** The org made at setup, recorded then (migration 019 recorded the oldest org of an older instance). */
export async function findInstanceOrg(db: Db): Promise<{ id: string } | undefined> {
  const row = await db.selectFrom('instance_settings').select('value').where('name', '=', OPERATOR_ORG_SETTING).executeTakeFirst();
  return row ? { id: row.value } : undefined;
}

/**
 * Serialises an org's quota-counted creates: a no-op write to the org's row, which PostgreSQL keeps
 * locked until the transaction ends (SQLite already runs one writer at a time). Without it two
 * creates could each count the last free slot. Taken before the create writes anything.
 */
export async function lockOrgForQuota(db: Db, orgId: string): Promise<void> {
  await db.updateTable('orgs').set((eb) => ({ name: eb.ref('name') })).where('id', '=', orgId).execute();
}

/** What counts against each quota now. */
export async function countUsage<K extends QuotaKind>(db: Db, orgId: string, kinds: readonly K[], now: number): Promise<Record<K, number>> {
  const out = {} as Record<K, number>;
  for (const kind of kinds) out[kind] = await count(db, orgId, kind, now);
  return out;
}

async function count(db: Db, orgId: string, kind: QuotaKind, now: number): Promise<number> {
  const n = (q: Promise<{ n: number | string } | undefined>) => q.then((r) => Number(r?.n ?? 0));
  switch (kind) {
    case 'members':
      return (
        (await n(db.selectFrom('memberships').select((eb) => eb.fn.countAll<number | string>().as('n')).where('org_id', '=', orgId).executeTakeFirst())) +
        (await n(
          db
            .selectFrom('invitations')
            .select((eb) => eb.fn.countAll<number | string>().as('n'))
            .where('org_id', '=', orgId)
            .where('accepted_at', 'is', null)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .executeTakeFirst(),
        ))
      );
    case 'projects':
      return n(db.selectFrom('projects').select((eb) => eb.fn.countAll<number | string>().as('n')).where('org_id', '=', orgId).executeTakeFirst());
    case 'secrets':
      return n(db.selectFrom('secrets').select((eb) => eb.fn.countAll<number | string>().as('n')).where('org_id', '=', orgId).where('deleted_at', 'is', null).executeTakeFirst());
    case 'tokens':
      return n(
        db
          .selectFrom('api_tokens')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('org_id', '=', orgId)
          .where('revoked_at', 'is', null)
          // A rotated token lives on for its grace period only: its successor is the one counted.
          .where('rotated_at', 'is', null)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
          .executeTakeFirst(),
      );
  }
}
