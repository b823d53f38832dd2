import { createHash } from 'node:crypto';
import { sql, type Insertable, type Selectable } from 'kysely';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';
import type { DialectTraits } from '../storage/dialect.js';
import type { PreparedQuery } from '../storage/prepared.js';
import { chainOf, type SignedCheckpoint } from '@keynest/sdk/audit-chain';

export type AuditRow = Insertable<Database['audit_events']>;
export type StoredAuditRow = Selectable<Database['audit_events']>;

/** What audit search filters on; every field narrows (AND). */
export interface AuditFilter {
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** A user or token id, or who that was by name (an email, a token's name). */
  actor?: string;
  /** An action and every action under it: `secret` matches `secret.read`, `secret.write`, … */
  action?: string;
  project?: string;
  environment?: string;
  /** A secret key: events about that secret, and reads of several values that included it. */
  key?: string;
  ip?: string;
  outcome?: 'success' | 'failure';
  /** A keyed digest of a sign-in name (audit/sensitive.ts): the failed sign-ins and lockouts where it was typed. */
  login?: string;
  /** The cursor: only events older than this id. */
  before?: number;
}

/**
 * Time bounds are found by binary search along the chain (records are appended in time order), so
 * no index on time is kept up on every write. Records are stamped by the clock of the instance that
 * wrote them, so the bounds are widened by this much, and the exact times are then filtered on.
 */
const CLOCK_MARGIN_MS = 10 * 60 * 1000;

interface ChainPoint {
  seq: number;
  id: number;
  at: number;
}

/** The chain's first record at or after `seq` (seqs are contiguous, except where records were removed). */
async function pointAt(db: Db, chain: string, seq: number, direction: 'up' | 'down'): Promise<ChainPoint | undefined> {
  const r = await db
    .selectFrom('audit_events')
    .select(['seq', 'id', 'at'])
    .where('chain', '=', chain)
    .where('seq', direction === 'up' ? '>=' : '<=', seq)
    .orderBy('seq', direction === 'up' ? 'asc' : 'desc')
    .limit(1)
    .executeTakeFirst();
  return r && r.seq !== null ? { seq: Number(r.seq), id: Number(r.id), at: Number(r.at) } : undefined;
}

/** The first record of the chain written at or after `t` (binary search on seq: a few index lookups). */
export async function firstAtOrAfter(db: Db, chain: string, t: number): Promise<ChainPoint | undefined> {
  const tail = await pointAt(db, chain, 0, 'up');
  const head = await pointAt(db, chain, Number.MAX_SAFE_INTEGER, 'down');
  if (!tail || !head || head.at < t) return undefined;
  if (tail.at >= t) return tail;
  // Invariant: the answer's seq is in (lo, hi]; `lo` is before t, `hi` is at or after it.
  let lo = tail.seq;
  let hi = head;
  while (hi.seq - lo > 1) {
    const probe = await pointAt(db, chain, Math.floor((lo + hi.seq) / 2), 'up');
    if (!probe || probe.seq >= hi.seq) break;
    if (probe.at >= t) hi = probe;
    else lo = probe.seq;
  }
  return hi;
}

/** The last record of the chain written before `t`. */
export async function lastBefore(db: Db, chain: string, t: number): Promise<ChainPoint | undefined> {
  const after = await firstAtOrAfter(db, chain, t);
  return after ? (after.seq > 0 ? pointAt(db, chain, after.seq - 1, 'down') : undefined) : pointAt(db, chain, Number.MAX_SAFE_INTEGER, 'down');
}

/** The org's members with this email and its tokens with this name: who an actor name means now. */
async function actorIdsNamed(db: Db, orgId: string, name: string): Promise<string[]> {
  const users = await db
    .selectFrom('users')
    .innerJoin('memberships', 'memberships.user_id', 'users.id')
    .select('users.id')
    .where('memberships.org_id', '=', orgId)
    .where('users.email', '=', name.toLowerCase())
    .execute();
  const tokens = await db.selectFrom('api_tokens').select('id').where('org_id', '=', orgId).where('name', '=', name).execute();
  return [...users.map((u) => u.id), ...tokens.map((t) => t.id)];
}

/** Ids are as good as ids: user and token ids carry these prefixes (crypto/random.ts newId). */
const ACTOR_ID = /^(usr|tok)_/;

/**
 * The org's events matching `f`, newest first. A time range is first turned into an id range
 * (binary search along the chain), so each equality filter's (org_id, column, id) index (actor,
 * environment, ip) — or, without one,
 * the chain's own (chain, seq) — yields its matches already in order and the LIMIT stops the scan early.
 */
export async function searchAuditEvents(db: Db, orgId: string, f: AuditFilter, limit: number): Promise<StoredAuditRow[]> {
  const chain = chainOf(orgId);
  let low: ChainPoint | undefined;
  let high: ChainPoint | undefined;
  if (f.from !== undefined) {
    low = await firstAtOrAfter(db, chain, f.from - CLOCK_MARGIN_MS);
    if (low === undefined) return [];
  }
  if (f.to !== undefined) {
    high = await lastBefore(db, chain, f.to + CLOCK_MARGIN_MS);
    if (!high) return [];
  }
  // Without a filter that has an index of its own, the org's records are walked newest first
  // along its chain: (chain, seq) order is id order within a chain, and the window and the page
  // cursor become seq bounds, so the walk starts where they do (an id range would not bound the
  // index's walk: it would go from the head back to the window through every record between).
  // An action filter is a prefix (`secret` matches `secret.read`, …): its index would give the
  // matches in action order, to be sorted; so it narrows the chain walk instead.
  const walkChain = f.actor === undefined && f.environment === undefined && f.ip === undefined;
  let q = db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
  let seqs: { low: number; top: number } | undefined;
  if (walkChain) {
    q = q.where('chain', '=', chain);
    if (low !== undefined) q = q.where('at', '>=', f.from!);
    if (high !== undefined) q = q.where('at', '<', f.to!);
    seqs = await walkBounds(db, chain, low, high, f.before);
    if (seqs === undefined) return [];
  } else {
    if (low !== undefined) q = q.where('id', '>=', low.id).where('at', '>=', f.from!);
    if (high !== undefined) q = q.where('id', '<=', high.id).where('at', '<', f.to!);
    if (f.before !== undefined) q = q.where('id', '<', f.before);
  }
  if (f.actor !== undefined) {
    const ids = ACTOR_ID.test(f.actor) ? [f.actor] : await actorIdsNamed(db, orgId, f.actor);
    // By id through its index; a name nobody holds now (a deleted token) by the name kept in each record.
    q = ids.length > 0 ? q.where('actor_id', 'in', ids) : q.where('actor_name', '=', f.actor);
  }
  if (f.action !== undefined) {
    const a = f.action.replace(/\.\*?$/, '');
    // `a` itself, or anything from "a." up to (not including) "a/" — the next character after '.'.
    q = q.where((eb) => eb.or([eb('action', '=', a), eb.and([eb('action', '>=', `${a}.`), eb('action', '<', `${a}/`)])]));
  }
  if (f.project !== undefined) q = q.where('project', '=', f.project);
  if (f.environment !== undefined) q = q.where('environment', '=', f.environment);
  if (f.ip !== undefined) q = q.where('ip', '=', f.ip);
  if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
  if (f.login !== undefined) q = q.where(detailsContain(`"login":${JSON.stringify(f.login)}`));
  if (f.key !== undefined) {
    const key = f.key;
    q = q.where((eb) => eb.or([eb('target_name', '=', key), eb.and([eb('target_type', '=', 'environment'), detailsContain(JSON.stringify(key))])]));
  }
  if (seqs === undefined) return q.orderBy('id', 'desc').limit(limit).execute();
  // The chain is walked newest first in stretches of seqs, each twice as long as the one before,
  // until the page is full. One query over the whole window would do on SQLite, whose planner
  // walks the (chain, seq) index in order and stops at the LIMIT; PostgreSQL's may instead read
  // every record of the window and sort them, when it believes few match (a key named in list
  // reads' details: 2.8 s over 30 days of 10 M records). A stretch bounds what any plan reads.
  const rows: StoredAuditRow[] = [];
  for (let top = seqs.top, span = limit * WALK_FIRST_STRETCH_PAGES; rows.length < limit && top > seqs.low; span *= 2) {
    const bottom = Math.max(seqs.low, top - span);
    rows.push(...(await q.where('seq', '>=', bottom).where('seq', '<', top).orderBy('seq', 'desc').limit(limit - rows.length).execute()));
    top = bottom;
  }
  return rows;
}

/** The first stretch of a chain walk covers this many pages' worth of seqs. */
const WALK_FIRST_STRETCH_PAGES = 8;

/**
 * The seqs a chain walk covers: from `low` (inclusive; else the chain's oldest record) up to `top`
 * (exclusive: after `high`, else below the page cursor `before`, else after the newest record).
 * Undefined: none.
 */
async function walkBounds(db: Db, chain: string, low: ChainPoint | undefined, high: ChainPoint | undefined, before: number | undefined): Promise<{ low: number; top: number } | undefined> {
  const oldest = low ?? (await pointAt(db, chain, 0, 'up'));
  if (oldest === undefined) return undefined;
  let top = high !== undefined ? high.seq + 1 : Number.MAX_SAFE_INTEGER;
  if (before !== undefined) {
    const bound = await seqBound(db, chain, before);
    if (bound === undefined) return undefined;
    top = Math.min(top, bound);
  }
  if (top === Number.MAX_SAFE_INTEGER) {
    const newest = await pointAt(db, chain, Number.MAX_SAFE_INTEGER, 'down');
    if (newest === undefined) return undefined;
    top = newest.seq + 1;
  }
  return top > oldest.seq ? { low: oldest.seq, top } : undefined;
}

/** Records whose details (JSON text) contain `text` literally: LIKE, with its wildcards escaped. */
function detailsContain(text: string) {
  return sql<boolean>`details LIKE ${`%${text.replace(/[\\%_]/g, '\\$&')}%`} ESCAPE '\\'`;
}

/**
 * The chain's records with ids below `before` (a page cursor) are those with seqs below this. The
 * cursor is normally a record of the chain itself (the last of the previous page): its own seq.
 * Else (any id) the seq after that of the chain's last record below it; undefined: there is none.
 */
async function seqBound(db: Db, chain: string, before: number): Promise<number | undefined> {
  const at = await db.selectFrom('audit_events').select(['chain', 'seq']).where('id', '=', before).executeTakeFirst();
  if (at && at.chain === chain && at.seq !== null) return Number(at.seq);
  const last = await db.selectFrom('audit_events').select('seq').where('id', '<', before).where('chain', '=', chain).orderBy('id', 'desc').limit(1).executeTakeFirst();
  return last?.seq == null ? undefined : Number(last.seq) + 1;
}

/** The id of the org's first record that may have been written at or after `from` (clock margin included). */
async function firstIdFrom(db: Db, orgId: string, from: number): Promise<number | undefined> {
  return (await firstAtOrAfter(db, chainOf(orgId), from - CLOCK_MARGIN_MS))?.id;
}

/** What `tallyByIp` counts: records of these actions with this outcome, at or after `from`. */
export interface TallyFilter {
  actions: readonly string[];
  outcome: 'success' | 'failure';
  from: number;
}

/**
 * The org's records matching `f`, counted: in all, and by client address (the `limit` addresses
 * with most, then by address), with how many distinct targets (accounts) each touched and when last.
 */
export async function tallyByIp(db: Db, orgId: string, f: TallyFilter, limit: number) {
  const lowId = await firstIdFrom(db, orgId, f.from);
  if (lowId === undefined) return { total: 0, byIp: [] };
  const matching = db
    .selectFrom('audit_events')
    .where('org_id', '=', orgId)
    .where('id', '>=', lowId)
    .where('at', '>=', f.from)
    .where('action', 'in', [...f.actions])
    .where('outcome', '=', f.outcome);
  const total = await matching.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
  const byIp = await matching
    .select((eb) => ['ip', eb.fn.countAll<number | string>().as('records'), eb.fn.count<number | string>('target_id').distinct().as('targets'), eb.fn.max('at').as('last_at')])
    .groupBy('ip')
    .orderBy('records', 'desc')
    .orderBy('ip')
    .limit(limit)
    .execute();
  return { total: Number(total.n), byIp: byIp.map((r) => ({ ip: r.ip, records: Number(r.records), targets: Number(r.targets), lastAt: Number(r.last_at) })) };
}

/** Column order of `insertAuditEventQuery`'s parameters. */
export const AUDIT_COLUMNS = [
  'org_id', 'at', 'action', 'outcome', 'actor_type', 'actor_id', 'target_type', 'target_id', 'target_name', 'ip', 'request_id', 'details',
  'actor_name', 'user_agent', 'project', 'environment', 'chain', 'seq', 'prev_hash', 'hash',
] as const;

/**
 * The INSERT of `values.length / AUDIT_COLUMNS.length` rows, unexecuted, each row's values in
 * AUDIT_COLUMNS order: for a PreparedQuery (one per row count).
 */
export function insertAuditEventsQuery(db: Db, ...values: unknown[]) {
  const rows: AuditRow[] = [];
  for (let at = 0; at < values.length; at += AUDIT_COLUMNS.length) {
    rows.push(Object.fromEntries(AUDIT_COLUMNS.map((c, i) => [c, values[at + i]])) as AuditRow);
  }
  return db.insertInto('audit_events').values(rows);
}

/** Arbitrary but fixed, apart from the migration lock's: the first key of a chain's advisory lock. */
const CHAIN_LOCK_SPACE = 0x61756474; // "audt"

/**
 * Makes appends to one chain take turns until the transaction ends (PostgreSQL; SQLite runs one
 * transaction at a time anyway). Without it two transactions could both extend the same head.
 */
export async function lockChain(trx: Db, traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>, chain: string): Promise<void> {
  if (!traits.supportsAdvisoryLocks) return;
  await sql`select pg_advisory_xact_lock(${CHAIN_LOCK_SPACE}, ${chainLockKey(chain)})`.execute(trx);
}

function chainLockKey(chain: string): number {
  return createHash('sha256').update(chain).digest().readInt32BE(0);
}

/**
 * PostgreSQL: `lockChain` then `chainHead`, in one round trip (migration 018 says why it is a
 * function). The hot path of every append.
 */
export async function lockChainAndReadHead(trx: Db, chain: string): Promise<ChainHead> {
  const r = await sql<{ seq: number; hash: string }>`select seq, hash from keynest_audit_lock_chain_head(${CHAIN_LOCK_SPACE}, ${chainLockKey(chain)}, ${chain})`.execute(trx);
  const head = r.rows[0];
  return head ? { seq: Number(head.seq), hash: head.hash } : undefined;
}

export type ChainHead = { seq: number; hash: string } | undefined;

/**
 * PostgreSQL: inserts `rows` (linked to `expected`, in seq order) as a transaction of its own, one
 * round trip, if the chain's head is still `expected` (migration 020); otherwise inserts nothing
 * and says what the head is.
 */
export async function appendAtHead(db: Db, chain: string, expected: ChainHead, rows: readonly AuditRow[]): Promise<{ appended: true } | { appended: false; head: ChainHead }> {
  const records = JSON.stringify(rows.map((row) => Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, row[c] ?? null]))));
  const r = await sql<{ appended: boolean; seq: number | null; hash: string | null }>`
    select appended, seq, hash from keynest_audit_append_at_head(${CHAIN_LOCK_SPACE}, ${chainLockKey(chain)}, ${chain}, ${expected?.seq ?? null}, ${expected?.hash ?? null}, ${records}::jsonb)`.execute(db);
  const answer = r.rows[0]!;
  if (answer.appended) return { appended: true };
  return { appended: false, head: answer.seq === null || answer.hash === null ? undefined : { seq: Number(answer.seq), hash: answer.hash } };
}

/**
 * The transactions (PostgreSQL virtual transaction ids) that hold a chain lock now, in this
 * database. Every audit insert happens while its transaction holds its chain's lock, taken before
 * the row's id is drawn and kept until the transaction ends: so a transaction that drew an id and
 * has not ended yet is in this list. Streaming (audit/sinks) uses it to tell an id not committed
 * *yet* from one that never will be. Empty on SQLite, whose writers take turns.
 */
export async function chainLockHolders(db: Db, traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>, among?: readonly string[]): Promise<string[]> {
  if (!traits.supportsAdvisoryLocks || among?.length === 0) return [];
  const only = among ? sql`and virtualtransaction = any(${[...among]}::text[])` : sql``;
  // Two-key advisory locks carry the first key in classid and objsubid 2 (PostgreSQL's pg_locks).
  const r = await sql<{ vtx: string }>`
    select distinct virtualtransaction as vtx from pg_locks
    where locktype = 'advisory' and classid = ${CHAIN_LOCK_SPACE} and objsubid = 2 and granted
      and database = (select oid from pg_database where datname = current_database()) ${only}`.execute(db);
  return r.rows.map((x) => x.vtx);
}

/** The query behind `chainHead`'s first step, unexecuted, for a PreparedQuery. */
export function chainHeadQuery(db: Db, chain: string) {
  return db.selectFrom('audit_events').select(['seq', 'hash']).where('chain', '=', chain).orderBy('seq', 'desc').limit(1);
}

/** The last record of a chain, else the anchor it was purged to, else nothing (a new chain). */
export async function chainHead(
  db: Db,
  chain: string,
  prepared?: PreparedQuery<[string], { seq: number | null; hash: string | null }>,
): Promise<{ seq: number; hash: string } | undefined> {
  const last = prepared ? await prepared.executeTakeFirst(db, chain) : await chainHeadQuery(db, chain).executeTakeFirst();
  if (last && last.seq !== null && last.hash !== null) return { seq: Number(last.seq), hash: last.hash };
  const anchor = await db
    .selectFrom('audit_checkpoints')
    .select(['seq', 'hash'])
    .where('chain', '=', chain)
    .where('kind', '=', 'anchor')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return anchor ? { seq: Number(anchor.seq), hash: anchor.hash } : undefined;
}

/** One page of a chain in seq order, from after `afterSeq`. */
export function chainPage(db: Db, chain: string, afterSeq: number, limit: number): Promise<StoredAuditRow[]> {
  return db.selectFrom('audit_events').selectAll().where('chain', '=', chain).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}

/**
 * The seq range of a chain's records in a time window: from the first record at or after `from` to
 * the last one before `to`. A contiguous stretch of the chain, so an export of it verifies.
 */
export async function seqRange(db: Db, chain: string, from: number | undefined, to: number | undefined): Promise<{ first: number; last: number } | null> {
  const first = from === undefined ? await pointAt(db, chain, 0, 'up') : await firstAtOrAfter(db, chain, from);
  const last = to === undefined ? await pointAt(db, chain, Number.MAX_SAFE_INTEGER, 'down') : await lastBefore(db, chain, to);
  if (!first || !last || last.seq < first.seq) return null;
  return { first: first.seq, last: last.seq };
}

/** One page of a chain in seq order, after `afterSeq` and up to `lastSeq`. */
export function chainRangePage(db: Db, chain: string, afterSeq: number, lastSeq: number, limit: number): Promise<StoredAuditRow[]> {
  return db.selectFrom('audit_events').selectAll().where('chain', '=', chain).where('seq', '>', afterSeq).where('seq', '<=', lastSeq).orderBy('seq').limit(limit).execute();
}

/**
 * The first of the org's records written around the server (no link at all): they break the chain
 * too. Through the (chain, seq) index: such a row has no chain, or a chain but no seq.
 */
export async function firstUnchained(db: Db, chain: string): Promise<{ id: number } | undefined> {
  const orgId = chain === '' ? null : chain;
  const [noChain, noSeq] = await Promise.all([
    db.selectFrom('audit_events').select('id').where('chain', 'is', null).where('org_id', orgId === null ? 'is' : '=', orgId).orderBy('id').limit(1).executeTakeFirst(),
    db.selectFrom('audit_events').select('id').where('chain', '=', chain).where('seq', 'is', null).orderBy('id').limit(1).executeTakeFirst(),
  ]);
  const ids = [noChain, noSeq].filter((r) => r !== undefined).map((r) => Number(r.id));
  return ids.length === 0 ? undefined : { id: Math.min(...ids) };
}

export async function listCheckpoints(db: Db, chain: string): Promise<SignedCheckpoint[]> {
  const rows = await db.selectFrom('audit_checkpoints').selectAll().where('chain', '=', chain).orderBy('seq').orderBy('id').execute();
  return rows.map((r) => ({ chain: r.chain, seq: Number(r.seq), hash: r.hash, at: Number(r.at), kind: r.kind, keyId: r.key_id, signature: r.signature }));
}

export function insertCheckpoint(db: Db, orgId: string | null, c: SignedCheckpoint) {
  return db
    .insertInto('audit_checkpoints')
    .values({ org_id: orgId, chain: c.chain, seq: c.seq, hash: c.hash, at: c.at, kind: c.kind, key_id: c.keyId, signature: c.signature })
    .execute();
}

/** The newest checkpoint of each chain (to skip chains that did not move since). */
/** The seq the chain's latest checkpoint or anchor covers (0: none). */
export async function lastCheckpointSeq(db: Db, chain: string): Promise<number> {
  const row = await db.selectFrom('audit_checkpoints').select((eb) => eb.fn.max('seq').as('seq')).where('chain', '=', chain).executeTakeFirst();
  return Number(row?.seq ?? 0);
}

export function latestCheckpointSeqs(db: Db) {
  return db.selectFrom('audit_checkpoints').select(['chain', (eb) => eb.fn.max('seq').as('seq')]).groupBy('chain').execute();
}

/** Every chain's head: the chains a periodic checkpoint may need to sign. */
export function chainHeads(db: Db) {
  return db
    .selectFrom('audit_events')
    .select(['chain', (eb) => eb.fn.max('seq').as('seq')])
    .where('chain', 'is not', null)
    .groupBy('chain')
    .execute();
}

export function recordAt(db: Db, chain: string, seq: number) {
  return db.selectFrom('audit_events').select(['org_id', 'hash', 'at']).where('chain', '=', chain).where('seq', '=', seq).executeTakeFirst();
}

/** The last record of a chain written before `before` (the retention cut). */
export function lastRecordBefore(db: Db, chain: string, before: number) {
  return db.selectFrom('audit_events').select(['seq', 'hash']).where('chain', '=', chain).where('at', '<', before).orderBy('seq', 'desc').limit(1).executeTakeFirst();
}

export function deleteUpTo(db: Db, chain: string, seq: number) {
  return db.deleteFrom('audit_events').where('chain', '=', chain).where('seq', '<=', seq).executeTakeFirst();
}

export function listSigningKeys(db: Db) {
  return db.selectFrom('audit_signing_keys').selectAll().orderBy('created_at').execute();
}

export function insertSigningKey(db: Db, row: Database['audit_signing_keys']) {
  return db.insertInto('audit_signing_keys').values(row).execute();
}
