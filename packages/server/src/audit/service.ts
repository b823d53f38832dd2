import type { Db } from '../storage/database.js';
import type { DialectTraits } from '../storage/dialect.js';
import { PreparedQuery } from '../storage/prepared.js';
import type { Tenancy } from '../storage/tenancy.js';
import { chainOf, GENESIS_HASH, hashedKeys, recordHash } from '@keynest/sdk/audit-chain';
import { AUDIT_COLUMNS, chainHead, chainHeadQuery, insertAuditEventsQuery, lockChain, searchAuditEvents, type AuditFilter, type AuditRow } from './store.js';

/**
 * The audit trail. Invariants:
 * - a state change and its audit record commit in one transaction: `record` takes the caller's
 *   transaction, so if the record cannot be written the change rolls back (fail-closed);
 * - a read of secret values is recorded (`recordAlone`, committed) before any value is returned;
 * - records never hold a secret value, password or token: `details` takes only scalar metadata
 *   (versions, counts, names), and callers pass key names, never values;
 * - rows are only appended, each linked into its org's hash chain (audit/chain.ts) in the same
 *   transaction that writes it; the database refuses to change or remove them (migration 011);
 * - streaming to sinks costs an append one call of `appended` (no query): sinks read committed
 *   rows in the background (audit/sinks).
 */
export interface AuditContext {
  orgId: string | null;
  /** `name`: who that was at the time (a user's email, a token's name), kept in the record. */
  actor: { type: 'user' | 'token' | 'anonymous' | 'system'; id: string | null; name?: string | null };
  ip: string | null;
  userAgent?: string | null;
  requestId: string | null;
  now: number;
}

export type AuditDetail = string | number | boolean | null | string[];

export interface AuditEntry {
  action: string;
  outcome?: 'success' | 'failure';
  target?: { type: string; id?: string | null; name?: string | null };
  /** The project and environment concerned (names): what search filters on. */
  project?: string | null;
  environment?: string | null;
  details?: Record<string, AuditDetail>;
}

export interface AuditEvent {
  id: number;
  at: string;
  action: string;
  outcome: 'success' | 'failure';
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string | null; id: string | null; name: string | null };
  project: string | null;
  environment: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, AuditDetail>;
}

/**
 * Most rows one INSERT of a group commit carries: well under the bound-parameter limits of SQLite
 * (32,766) and PostgreSQL (65,535) at 12 columns a row.
 */
const GROUP_MAX_ROWS = 64;

/** The canonical field order of the rows this service writes (every row has every AUDIT_COLUMN), sorted once. */
const HASHED_FIELDS = hashedKeys(Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, null])));

/** A client's user agent is kept up to this length. */
const USER_AGENT_MAX = 512;

interface Queued {
  row: AuditRow;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AuditService {
  /** A prepared multi-row INSERT per row count, compiled on first use. */
  readonly #inserts = new Map<number, PreparedQuery<unknown[], unknown>>();
  readonly #queue: Queued[] = [];
  /** The chain head lookup, prepared once (it runs on every append). */
  readonly #head = new PreparedQuery((db: Db, chain: string) => chainHeadQuery(db, chain));
  /**
   * SQLite only (one process owns the file, one connection): the head each chain had after this
   * service's last append that committed by itself, so a batch of reads skips the head query. A
   * chain is dropped from it whenever an append inside a caller's transaction (whose outcome is not
   * known here) or a failed insert touches it. Null on PostgreSQL, where other instances append.
   */
  readonly #heads: Map<string, { seq: number; hash: string }> | null;
  #flushScheduled = false;

  constructor(
    private readonly db: Db,
    private readonly traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>,
    private readonly tenancy: Pick<Tenancy, 'runAsOrg' | 'runAsSystem'>,
    /**
     * Told of every append (audit streaming wakes its sinks: audit/sinks). It must be cheap and
     * never wait: it runs on the path of every audited request. For an append inside a caller's
     * transaction it runs before the commit; the sinks look a moment later and read only committed rows.
     */
    private readonly appended: () => void = () => {},
  ) {
    this.#heads = traits.supportsAdvisoryLocks ? null : new Map();
  }

  /** Appends one record inside `trx` (the same transaction as the change it describes). */
  record(trx: Db, ctx: AuditContext, entry: AuditEntry): Promise<unknown> {
    const rows = [toRow(ctx, entry)];
    this.appended();
    // The head read and the insert must not interleave with another append.
    return trx.isTransaction ? this.#append(trx, rows, false) : this.#appendAlone(trx, rows);
  }

  /**
   * For events that change nothing (a read of values, a failed sign-in): resolves once the record
   * has committed, and rejects if it could not be — so a caller that waits for it before
   * answering never returns a value whose read went unrecorded (fail-closed). Records that arrive
   * in the same turn of the event loop are written together by one multi-row INSERT, a commit of
   * its own (group commit): under load this turns one commit per read into one per batch.
   */
  recordAlone(ctx: AuditContext, entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ row: toRow(ctx, entry), resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  /**
   * Links the rows into their chains (after each chain's current head) and inserts them, inside
   * the caller's transaction: a record that commits is linked; one that rolls back took no place.
   * `alone`: the insert commits by itself (no caller's transaction), so its outcome is known here.
   */
  async #append(trx: Db, rows: AuditRow[], alone: boolean): Promise<unknown> {
    const byChain = new Map<string, AuditRow[]>();
    for (const row of rows) {
      const chain = chainOf(row.org_id ?? null);
      const group = byChain.get(chain);
      if (group) group.push(row);
      else byChain.set(chain, [row]);
    }
    // A fixed order of locks, so two appends to the same chains cannot wait on each other.
    for (const chain of [...byChain.keys()].sort()) {
      await lockChain(trx, this.traits, chain);
      const known = alone ? this.#heads?.get(chain) : undefined;
      let { seq, hash } = known ?? (await chainHead(trx, chain, this.#head)) ?? { seq: 0, hash: GENESIS_HASH };
      for (const row of byChain.get(chain)!) {
        row.chain = chain;
        row.seq = ++seq;
        row.prev_hash = hash;
        row.hash = hash = recordHash(row as Record<string, string | number | null>, hash, HASHED_FIELDS);
      }
      // Whether a caller's transaction commits is not known here: its chain is read afresh next time.
      if (!alone) this.#heads?.delete(chain);
    }
    if (!alone) return this.#insert(trx, rows);
    try {
      const inserted = await this.#insert(trx, rows);
      for (const [chain, group] of byChain) {
        const last = group[group.length - 1]!;
        this.#heads?.set(chain, { seq: last.seq!, hash: last.hash! });
      }
      return inserted;
    } catch (err) {
      for (const chain of byChain.keys()) this.#heads?.delete(chain);
      throw err;
    }
  }

  /**
   * Appends outside any caller's transaction. The head read and the insert must not interleave
   * with another append: on PostgreSQL a transaction holds the chain's lock; SQLite has one
   * connection, so holding it for both statements is enough — the INSERT commits on its own, and
   * no BEGIN/COMMIT round is spent on the hot path of every read.
   */
  #appendAlone(db: Db, rows: AuditRow[]): Promise<unknown> {
    if (this.traits.supportsAdvisoryLocks) return db.transaction().execute((trx) => this.#append(trx, rows, false));
    return db.connection().execute((conn) => this.#append(conn, rows, true));
  }

  #insert(db: Db, rows: AuditRow[]): Promise<unknown> {
    let insert = this.#inserts.get(rows.length);
    if (!insert) this.#inserts.set(rows.length, (insert = new PreparedQuery((d: Db, ...values: unknown[]) => insertAuditEventsQuery(d, ...values))));
    const values: unknown[] = [];
    for (const row of rows) for (const c of AUDIT_COLUMNS) values.push(row[c]);
    return insert.execute(db, ...values);
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    const batch = this.#queue.splice(0);
    // Each group commits on its own: its readers are answered once it has committed, and
    // refused if it failed, whatever happens to the other groups of the batch.
    for (let at = 0; at < batch.length; at += GROUP_MAX_ROWS) {
      const group = batch.slice(at, at + GROUP_MAX_ROWS);
      try {
        const rows = group.map((q) => q.row);
        await this.#asWriterOf(rows, () => this.#appendAlone(this.db, rows));
        this.appended();
        for (const q of group) q.resolve();
      } catch (err) {
        for (const q of group) q.reject(err);
      }
    }
  }

  /**
   * The flush runs in the context of whichever request came first, while a group holds the records
   * of every request of its turn (each row's org set from its own caller). A group of one org's
   * records is written as that org (the connections of its requests stay bound to it: no extra round
   * trip); a group that mixes orgs, or holds an instance event, as system, the one context that may
   * write them all.
   */
  #asWriterOf<T>(rows: readonly AuditRow[], write: () => Promise<T>): Promise<T> {
    const orgId = rows[0]!.org_id;
    return typeof orgId === 'string' && rows.every((r) => r.org_id === orgId) ? this.tenancy.runAsOrg(orgId, write) : this.tenancy.runAsSystem(write);
  }

  /** The org's events matching `filter`, newest first (audit search). */
  async list(orgId: string, filter: AuditFilter, limit: number): Promise<AuditEvent[]> {
    const rows = await searchAuditEvents(this.db, orgId, filter, limit);
    return rows.map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      action: r.action,
      outcome: r.outcome,
      actor: { type: r.actor_type, id: r.actor_id, name: r.actor_name },
      target: { type: r.target_type, id: r.target_id, name: r.target_name },
      project: r.project,
      environment: r.environment,
      ip: r.ip,
      userAgent: r.user_agent,
      requestId: r.request_id,
      details: JSON.parse(r.details) as Record<string, AuditDetail>,
    }));
  }
}

function toRow(ctx: AuditContext, entry: AuditEntry): AuditRow {
  return {
    org_id: ctx.orgId,
    at: ctx.now,
    action: entry.action,
    outcome: entry.outcome ?? 'success',
    actor_type: ctx.actor.type,
    actor_id: ctx.actor.id,
    target_type: entry.target?.type ?? null,
    target_id: entry.target?.id ?? null,
    target_name: entry.target?.name ?? null,
    ip: ctx.ip,
    request_id: ctx.requestId,
    details: JSON.stringify(entry.details ?? {}),
    actor_name: ctx.actor.name ?? null,
    user_agent: ctx.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
    project: entry.project ?? null,
    environment: entry.environment ?? null,
    chain: null,
    seq: null,
    prev_hash: null,
    hash: null,
  };
}
