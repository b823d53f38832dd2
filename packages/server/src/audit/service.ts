import type { Db } from '../storage/database.js';
import type { DialectTraits } from '../storage/dialect.js';
import type { Tenancy } from '../storage/tenancy.js';
import { chainOf } from '@keynest/sdk/audit-chain';
import { ChainAppender } from './append.js';
import { searchAuditEvents, tallyByIp, type AuditFilter, type AuditRow, type TallyFilter } from './store.js';

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

/** Most records one group commit carries (a group commits, or fails, as a whole). */
const GROUP_MAX_ROWS = 64;

/** A client's user agent is kept up to this length. */
const USER_AGENT_MAX = 512;

/**
 * How an append was written: inside the caller's transaction (`transaction`), committing by itself
 * (`alone`), or as one group commit of the reads waiting on one chain (`group`).
 */
export type AuditWriteMode = 'transaction' | 'alone' | 'group';

/**
 * Told how long each append took (metrics/): one measurement per append — a group commit is one,
 * however many records it holds — so timing costs the hot path one clock pair per batch.
 */
export interface AuditWriteObserver {
  auditAppended(mode: AuditWriteMode, seconds: number, records: number): void;
}

interface Queued {
  row: AuditRow;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The reads waiting to be recorded in one chain, and whether a commit of that chain is under way.
 * One commit at a time a chain: what arrives meanwhile waits and goes in the next commit, so under
 * load a commit carries every read that came while the previous one was being written, however the
 * requests fall across turns of the event loop. Without this, on PostgreSQL, where a request's
 * queries end on different turns, each read made a transaction of its own, and the transactions
 * queued on the chain's lock one after the other (about 200 reads/s).
 */
interface Lane {
  queue: Queued[];
  busy: boolean;
}

export class AuditService {
  readonly #appender: ChainAppender;
  /** By chain (audit/chain.ts): the org's, or the instance's. */
  readonly #lanes = new Map<string, Lane>();

  constructor(
    private readonly db: Db,
    private readonly traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>,
    private readonly tenancy: Pick<Tenancy, 'runAsOrg' | 'runAsSystem'>,
    /** Told how long each append took (metrics/), when metrics are on. */
    private readonly observer: AuditWriteObserver | null = null,
    /**
     * Told of every record appended, by its action (audit streaming wakes the sinks that want it:
     * audit/sinks). It must be cheap and never wait: it runs on the path of every audited request.
     * For an append inside a caller's transaction it runs before the commit; the sinks look a
     * moment later and read only committed rows.
     */
    private readonly appended: (action: string) => void = () => {},
  ) {
    this.#appender = new ChainAppender(traits);
  }

  /**
   * Appends one record inside `trx` (the same transaction as the change it describes). Given no
   * transaction, the record commits by itself before this resolves.
   */
  record(trx: Db, ctx: AuditContext, entry: AuditEntry): Promise<unknown> {
    const rows = [toRow(ctx, entry)];
    this.appended(entry.action);
    return trx.isTransaction ? this.#timed('transaction', 1, () => this.#appender.append(trx, rows)) : this.#timed('alone', 1, () => this.#commit(rows));
  }

  /** Runs one append, timing it when someone is listening (no clock read otherwise). */
  #timed<T>(mode: AuditWriteMode, records: number, append: () => Promise<T>): Promise<T> {
    const observer = this.observer;
    if (!observer) return append();
    const started = performance.now();
    return append().then((result) => {
      observer.auditAppended(mode, (performance.now() - started) / 1000, records);
      return result;
    });
  }

  /**
   * For events that change nothing (a read of values, a failed sign-in): resolves once the record
   * has committed, and rejects if it could not be — so a caller that waits for it before
   * answering never returns a value whose read went unrecorded (fail-closed). Records of one chain
   * that arrive in the same turn, or while that chain's previous commit is being written, commit
   * together (group commit, see Lane): under load one commit per batch instead of one per read.
   */
  recordAlone(ctx: AuditContext, entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      const row = toRow(ctx, entry);
      const chain = chainOf(row.org_id ?? null);
      let lane = this.#lanes.get(chain);
      if (!lane) this.#lanes.set(chain, (lane = { queue: [], busy: false }));
      lane.queue.push({ row, resolve, reject });
      if (!lane.busy) {
        lane.busy = true;
        // The reads of this turn of the event loop and of the next one join the first commit: on
        // SQLite a commit costs far more than one turn's wait (a commit per ~6 reads became one per
        // ~9 under the bench's 10 connections: bench/README.md).
        setImmediate(() => setImmediate(() => void this.#drain(chain, lane)));
      }
    });
  }

  /**
   * Rows (of one chain) that commit by themselves. The head read and the insert must not
   * interleave with another append: on PostgreSQL one statement takes the chain's lock, checks the
   * head and inserts (`ChainAppender.appendAlone`); SQLite has one connection, so holding it for
   * both statements is enough — the INSERT commits on its own, and no BEGIN/COMMIT round is spent
   * on the hot path of every read.
   */
  #commit(rows: AuditRow[]): Promise<void> {
    return this.#asWriterOf(rows, () =>
      this.traits.supportsAdvisoryLocks
        ? this.#appender.appendAlone(this.db, rows)
        : this.db.connection().execute((conn) => this.#appender.append(conn, rows)),
    );
  }

  /**
   * Commits the lane's reads, a group at a time, until none is waiting. Each group commits on its
   * own: its readers are answered once it has committed, and refused if it failed.
   */
  async #drain(chain: string, lane: Lane): Promise<void> {
    while (lane.queue.length > 0) {
      const group = lane.queue.splice(0, GROUP_MAX_ROWS);
      try {
        await this.#timed('group', group.length, () => this.#commit(group.map((q) => q.row)));
        for (const q of group) {
          this.appended(q.row.action);
          q.resolve();
        }
      } catch (err) {
        for (const q of group) q.reject(err);
      }
    }
    lane.busy = false;
    // An idle org keeps no lane (orgs come and go; the map must not grow with them).
    this.#lanes.delete(chain);
  }

  /**
   * A lane's commits run in the context of whichever request started it, while a group holds the
   * records of many requests of one chain (each row's org set from its own caller; `record` commits
   * one row). So it is written as the org of its records (the connections of its requests stay
   * bound to it: no extra round trip), or as system for instance events, which have no org.
   */
  #asWriterOf<T>(rows: readonly AuditRow[], write: () => Promise<T>): Promise<T> {
    const orgId = rows[0]!.org_id;
    return typeof orgId === 'string' ? this.tenancy.runAsOrg(orgId, write) : this.tenancy.runAsSystem(write);
  }

  /** How many of the org's records match `filter`, in all and by client address (the security status). */
  tallyByIp(orgId: string, filter: TallyFilter, limit: number) {
    return tallyByIp(this.db, orgId, filter, limit);
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
