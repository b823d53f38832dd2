import type { Db } from '../../storage/database.js';
import type { DialectTraits } from '../../storage/dialect.js';
import { chainLockHolders, type StoredAuditRow } from '../store.js';

/**
 * Which records past an instance sink's cursor are final, so the cursor may move past them.
 *
 * Ids are drawn when a row is inserted, and on PostgreSQL transactions commit in any order: id 104
 * may still be uncommitted while 105 is visible. A cursor moved to 105 would skip 104 for good. A
 * missing id is either that (not committed *yet*) or a rolled-back insert (never); to tell them
 * apart: every audit insert holds its chain's lock from before its id is drawn until its
 * transaction ends (audit/service.ts), so once every transaction that held a chain lock just after
 * the gap was seen has ended, the gap is final — whatever filled it is visible by then.
 *
 * Invariant: `settle` answers only records such that no record with a smaller id (past the cursor)
 * can still appear. Within one chain commit order is id order (appends to a chain take turns), so
 * an org sink, which reads one chain, needs none of this. Neither does SQLite: one writer at a time.
 */
export class CommitHorizon {
  /** Every id up to this one is final (or gone for good). */
  #settled = 0;
  /** A gap seen, the last id read with it, and the chain-lock holders that may still fill it. */
  #pending: { upTo: number; holders: string[] } | null = null;

  constructor(private readonly deps: { db: Db; traits: Pick<DialectTraits, 'supportsAdvisoryLocks'> }) {}

  /**
   * The records of `rows` (read in id order after `afterId`) that may be delivered now: the prefix
   * without an unsettled gap. `recheck`: nothing is deliverable yet; look again (read again) then.
   */
  async settle<R extends Pick<StoredAuditRow, 'id'>>(rows: R[], afterId: number): Promise<{ rows: R[]; recheck?: 'now' | 'soon' }> {
    if (!this.deps.traits.supportsAdvisoryLocks || rows.length === 0) return { rows };
    let expected = afterId + 1;
    let ready = 0;
    for (const r of rows) {
      const id = Number(r.id);
      if (id > this.#settled && id !== expected) break;
      expected = id + 1;
      ready++;
    }
    if (ready > 0) return { rows: rows.slice(0, ready) };
    // The first row is past a gap: wait for the transactions that may still fill it.
    const { db, traits } = this.deps;
    const pending = this.#pending;
    if (pending === null) this.#pending = { upTo: Number(rows[rows.length - 1]!.id), holders: await chainLockHolders(db, traits) };
    else pending.holders = await chainLockHolders(db, traits, pending.holders);
    if (this.#pending!.holders.length > 0) return { rows: [], recheck: 'soon' };
    this.#settled = Math.max(this.#settled, this.#pending!.upTo);
    this.#pending = null;
    // Read again: a transaction that ended since the rows were read may have filled the gap.
    return { rows: [], recheck: 'now' };
  }
}
