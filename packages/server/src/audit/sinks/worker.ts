import { chainOf } from '@keynest/sdk/audit-chain';
import type { Clock } from '../../context.js';
import type { Logger } from '../../logger.js';
import type { Db } from '../../storage/database.js';
import type { DialectTraits } from '../../storage/dialect.js';
import type { Tenancy } from '../../storage/tenancy.js';
import type { StoredAuditRow } from '../store.js';
import type { DeliveryPolicy } from './config.js';
import { CommitHorizon } from './horizon.js';
import type { SinkIdentity } from './status.js';
import * as store from './store.js';
import { deliveryReason, SinkDeliveryError, type SinkTransport } from './transport.js';

/** A sink the dispatcher delivers to: who it is, and how records reach it. */
export interface SinkDefinition extends SinkIdentity {
  transport: SinkTransport;
  /**
   * An instance sink's first run starts after the newest record then (records written before it
   * existed are not its business: the alert engine), instead of at the oldest one still kept.
   */
  fromHead?: boolean;
  /**
   * An instance sink that wants only some actions (the alert engine): the others are passed over by
   * their id and action alone, never loaded. Its cursor still moves past them.
   */
  interest?: (action: string) => boolean;
}

export interface WorkerDeps {
  db: Db;
  traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>;
  tenancy: Pick<Tenancy, 'runAsOrg' | 'runAsSystem'>;
  clock: Clock;
  log: Logger;
  policy: DeliveryPolicy;
  /** This dispatcher's name in the sinks' leases. */
  owner: string;
  /** [0, 1): the jitter of retries (tests pass a fixed one). */
  random: () => number;
}

/**
 * How long a lease lasts; it is renewed when half of it is gone, so only a dead instance lets one
 * lapse, and another instance takes its sinks over this long after it died (a stopped one hands
 * them back at once).
 */
const LEASE_MS = 30_000;
/** How soon to look again while transactions that may fill a gap in the ids are still open (horizon.ts). */
const GAP_RECHECK_MS = 25;
/** Heads (id, seq, action) a sink with an `interest` looks at in one round. */
const INTEREST_SCAN_ROWS = 1000;

/** After a round: go on at once, or sleep (a wakeable sleep ends early when records are appended). */
type Next = { sleepMs: number; wakeable: boolean } | 'stop';
const AT_ONCE: Next = { sleepMs: 0, wakeable: false };

/**
 * Delivers one sink, in order, after its durable cursor. Invariants:
 * - the cursor moves only after the transport confirmed a batch, and only while this instance
 *   holds the sink's lease: a crash, a restart or a lost lease repeats a batch (at least once),
 *   never skips one; every record carries its id, chain, seq and hash to dedupe on;
 * - a failure keeps the cursor where it is: the records wait in the database, retried with
 *   exponential backoff and jitter, forever; the failure count and safe reason are stored for the
 *   sink's status and logged (never a record, a URL's query or a secret);
 * - an org sink reads only its org's chain, as that org (row-level security on PostgreSQL), and a
 *   batch holding any other org's record is refused before delivery;
 * - `stop` abandons an in-flight delivery (its cursor stays) and ends the loop.
 */
export class SinkWorker {
  #lastId = 0;
  #lastSeq = 0;
  #failures = 0;
  #leaseUntil = 0;
  #stopped = false;
  readonly #abort = new AbortController();
  #endSleep: (() => void) | null = null;
  #sleepWakeable = false;
  /** Woken since the last read began: the next idle sleep is skipped (a wake between read and sleep is not lost). */
  #woken = false;
  readonly #waiters = new Set<{ upTo: number; resolve: () => void }>();
  #loop: Promise<void> | null = null;
  readonly #horizon: CommitHorizon | null;

  constructor(
    readonly sink: SinkDefinition,
    private readonly deps: WorkerDeps,
  ) {
    this.#horizon = sink.orgId === null ? new CommitHorizon(deps) : null;
  }

  /** The id of the last record this worker delivered (or found delivered at start). */
  get deliveredUpTo(): number {
    return this.#lastId;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Whether a record of this action is this sink's business (an append of it should wake it). */
  wants(action: string): boolean {
    return this.sink.interest === undefined || this.sink.interest(action);
  }

  /** Records were appended: an idle worker looks now (a backing-off one keeps its pause). */
  wake(): void {
    this.#woken = true;
    if (this.#sleepWakeable) this.#endSleep?.();
  }

  /**
   * Resolves once the record `id` (or a later one) is delivered. Wakes the worker: the records
   * in between may be ones it was not woken for (`wants`).
   */
  whenDelivered(id: number): Promise<void> {
    if (this.#lastId >= id) return Promise.resolve();
    const delivered = new Promise<void>((resolve) => this.#waiters.add({ upTo: id, resolve }));
    this.wake();
    return delivered;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort(new SinkDeliveryError('abandoned (shutting down)'));
    this.#endSleep?.();
    await this.#loop;
    await this.#as(() => store.releaseLease(this.deps.db, this.sink.id, this.deps.owner)).catch(() => {});
    await this.sink.transport.close();
  }

  #as<T>(work: () => Promise<T>): Promise<T> {
    const { tenancy } = this.deps;
    return this.sink.orgId === null ? tenancy.runAsSystem(work) : tenancy.runAsOrg(this.sink.orgId, work);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const next = await this.#round();
      if (next === 'stop') return;
      await this.#sleep(next.sleepMs, next.wakeable);
    }
  }

  async #round(): Promise<Next> {
    let batch: StoredAuditRow[];
    let through: { id: number; seq: number };
    this.#woken = false;
    try {
      const lease = await this.#holdLease();
      if (lease === 'gone') return 'stop';
      if (lease === 'taken') return { sleepMs: this.deps.policy.pollMs, wakeable: false };
      const read = await this.#read();
      if (read.recheck) return read.recheck === 'now' ? AT_ONCE : { sleepMs: GAP_RECHECK_MS, wakeable: false };
      batch = read.rows;
      if (read.through === null) return { sleepMs: this.deps.policy.pollMs, wakeable: true };
      through = read.through;
      if (this.sink.orgId !== null && batch.some((r) => r.org_id !== this.sink.orgId)) throw new Error(`sink ${this.sink.id} read another org's record`);
    } catch (err) {
      return this.#stopped ? 'stop' : this.#failed(err, 'fault');
    }
    try {
      if (batch.length > 0) await this.sink.transport.deliver(batch, this.#abort.signal);
    } catch (err) {
      return this.#stopped ? 'stop' : this.#failed(err, 'delivery');
    }
    // Delivered: even when stopping, the cursor records it (fewer repeats after the restart).
    try {
      const now = this.deps.clock();
      const moved = await this.#as(() => store.advanceCursor(this.deps.db, { sinkId: this.sink.id, owner: this.deps.owner, lastId: through.id, lastSeq: through.seq, now }));
      if (!moved) this.#leaseUntil = 0;
    } catch (err) {
      this.deps.log.error({ err, sink: this.sink.id }, 'audit sink cursor not saved (the batch will be delivered again)');
    }
    this.#failures = 0;
    this.#delivered(through.id, through.seq);
    return AT_ONCE;
  }

  /**
   * The next batch past the cursor: an org's chain in seq order, or every chain in settled id order.
   * `through`: the last record the batch covers (where the cursor goes once it is delivered; past
   * records an `interest` passed over); null: nothing new.
   */
  async #read(): Promise<{ rows: StoredAuditRow[]; through: { id: number; seq: number } | null; recheck?: 'now' | 'soon' }> {
    const { db, policy } = this.deps;
    const orgId = this.sink.orgId;
    if (orgId !== null) return covering(await this.#as(() => store.chainRecordsAfter(db, chainOf(orgId), orgId, this.#lastSeq, policy.batchSize)));
    const interest = this.sink.interest;
    if (!interest) {
      const rows = await this.#as(() => store.recordsAfter(db, this.#lastId, policy.batchSize));
      const settled = await this.#as(() => this.#horizon!.settle(rows, this.#lastId));
      return settled.recheck ? { rows: [], through: null, recheck: settled.recheck } : covering(settled.rows);
    }
    // Heads are small (id, seq, action), and most are passed over: a round looks at many of them,
    // loading at most a batch of the wanted records.
    const heads = await this.#as(() => store.recordActionsAfter(db, this.#lastId, Math.max(policy.batchSize, INTEREST_SCAN_ROWS)));
    const settled = await this.#as(() => this.#horizon!.settle(heads, this.#lastId));
    if (settled.recheck) return { rows: [], through: null, recheck: settled.recheck };
    let last: (typeof settled.rows)[number] | undefined;
    const wanted: number[] = [];
    for (const head of settled.rows) {
      if (wanted.length === policy.batchSize) break;
      last = head;
      if (interest(head.action)) wanted.push(Number(head.id));
    }
    if (!last) return { rows: [], through: null };
    const rows = wanted.length > 0 ? await this.#as(() => store.recordsById(db, wanted)) : [];
    return { rows, through: { id: Number(last.id), seq: Number(last.seq ?? 0) } };
  }

  /**
   * Takes or renews the sink's lease when less than half of it is left, loading the cursor then
   * (another instance may have moved it). `gone`: the sink was removed.
   */
  async #holdLease(): Promise<'held' | 'taken' | 'gone'> {
    const { db, clock, owner } = this.deps;
    const now = clock();
    if (now < this.#leaseUntil - LEASE_MS / 2) return 'held';
    return this.#as(async () => {
      if (this.sink.orgId === null) {
        const lastId = this.sink.fromHead && !(await store.cursorOf(db, this.sink.id)) ? await store.newestId(db, null) : 0;
        await store.ensureCursor(db, { sinkId: this.sink.id, orgId: null, lastId, lastSeq: 0, now });
      }
      // SQLite: one process owns the database file, so a lease in it is a killed predecessor's.
      const takeOver = !this.deps.traits.supportsAdvisoryLocks;
      if (!(await store.claimLease(db, { sinkId: this.sink.id, owner, now, until: now + LEASE_MS, takeOver }))) {
        this.#leaseUntil = 0;
        return (await store.cursorOf(db, this.sink.id)) ? 'taken' : 'gone';
      }
      const cursor = await store.cursorOf(db, this.sink.id);
      if (!cursor) return 'gone';
      this.#leaseUntil = now + LEASE_MS;
      this.#delivered(Number(cursor.last_id), Number(cursor.last_seq));
      this.#failures = cursor.failures;
      return 'held';
    });
  }

  #delivered(lastId: number, lastSeq: number): void {
    this.#lastId = lastId;
    this.#lastSeq = lastSeq;
    for (const w of this.#waiters) {
      if (w.upTo > lastId) continue;
      this.#waiters.delete(w);
      w.resolve();
    }
  }

  /** `fault`: ours (the database, a bug), logged with its stack; `delivery`: the destination's, by its safe reason. */
  async #failed(err: unknown, source: 'fault' | 'delivery'): Promise<Next> {
    const { policy, log, clock } = this.deps;
    this.#failures++;
    const reason = source === 'fault' ? 'internal error (see the server log)' : deliveryReason(err, policy.timeoutMs);
    const retryInMs = this.#backoff();
    const about = { sink: this.sink.id, kind: this.sink.kind, destination: this.sink.destination, failures: this.#failures, retryInMs, reason };
    if (source === 'fault') log.error({ ...about, err }, 'audit sink delivery failed');
    else log.warn(about, 'audit sink delivery failed');
    const now = clock();
    await this.#as(() => store.recordFailure(this.deps.db, { sinkId: this.sink.id, owner: this.deps.owner, failures: this.#failures, error: reason, now })).catch(() => {});
    return { sleepMs: retryInMs, wakeable: false };
  }

  /** Exponential from `retryMinMs`, capped at `retryMaxMs`, the upper half randomised (jitter). */
  #backoff(): number {
    const { retryMinMs, retryMaxMs } = this.deps.policy;
    const full = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(this.#failures - 1, 30));
    return Math.round(full / 2 + (full / 2) * this.deps.random());
  }

  #sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.#stopped || ms <= 0 || (wakeable && this.#woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        if (this.#endSleep === end) this.#endSleep = null;
        resolve();
      };
      const timer = setTimeout(end, ms);
      timer.unref();
      this.#endSleep = end;
      this.#sleepWakeable = wakeable;
    });
  }
}

/** A batch read in full: it covers up to its last record. */
function covering(rows: StoredAuditRow[]): { rows: StoredAuditRow[]; through: { id: number; seq: number } | null } {
  const last = rows.at(-1);
  return { rows, through: last ? { id: Number(last.id), seq: Number(last.seq ?? 0) } : null };
}
