import { AsyncResource } from 'node:async_hooks';
import { sql } from 'kysely';
import type { Db } from './database.js';
import type { DialectTraits } from './dialect.js';

/** Most transactions one shared commit carries: a bound on how long the others wait for the connection. */
const GROUP_MAX = 32;

// Constant statements (no value is ever spliced in): one savepoint at a time, so one name serves.
const SAVEPOINT = sql`savepoint keynest_group_member`;
const RELEASE = sql`release savepoint keynest_group_member`;
const ROLLBACK_TO = sql`rollback to savepoint keynest_group_member`;

interface Member {
  work: (trx: Db) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

/**
 * Write transactions that share one COMMIT (SQLite). Why: on SQLite a commit writes every page the
 * transaction changed to the WAL, a system call or two per page; for a secret write (the secret,
 * its version, its audit record and their indexes) that is more than all of its statements
 * together. Transactions that arrive in the same turn of the event loop pay it once.
 *
 * What each caller still gets, exactly as from a transaction of its own:
 * - its work runs in its own savepoint, after the earlier members' (it sees their writes, as it
 *   would had they committed first); a member that throws is rolled back alone and rejected with
 *   its own error, the others go on;
 * - it is answered only after the shared COMMIT; if that fails, every member is rejected;
 * - its work runs in its caller's async context (the request's, for logs and tenancy).
 * A work must use only the `trx` it is given, never start another transaction or call `run`: the
 * group holds the one SQLite connection until it commits, so either would wait for itself.
 *
 * PostgreSQL runs transactions side by side on their own connections (row locks order them), so
 * there each is simply its own transaction.
 */
export class GroupCommit {
  readonly #grouped: boolean;
  readonly #queue: Member[] = [];
  #draining = false;

  constructor(
    private readonly db: Db,
    traits: Pick<DialectTraits, 'name'>,
    /** Told the size of each shared commit, once it has committed (tests, metrics). */
    private readonly committed?: (transactions: number) => void,
  ) {
    this.#grouped = traits.name === 'sqlite';
  }

  /** Runs `work` in a transaction (on SQLite, a savepoint of a shared one) and resolves once it is committed. */
  run<T>(work: (trx: Db) => Promise<T>): Promise<T> {
    if (!this.#grouped) return this.db.transaction().execute(work);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work: AsyncResource.bind(work), resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        // The rest of this turn's writes join the first commit.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, GROUP_MAX);
      let outcomes: Outcome[];
      try {
        outcomes = await this.db.transaction().execute(async (trx) => {
          const done: Outcome[] = [];
          for (const member of group) {
            await SAVEPOINT.execute(trx);
            try {
              done.push({ ok: true, value: await member.work(trx) });
            } catch (err) {
              await ROLLBACK_TO.execute(trx);
              done.push({ ok: false, err });
            }
            await RELEASE.execute(trx);
          }
          return done;
        });
      } catch (err) {
        for (const member of group) member.reject(err);
        continue;
      }
      this.committed?.(group.length);
      group.forEach((member, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) member.resolve(outcome.value);
        else member.reject(outcome.err);
      });
    }
    this.#draining = false;
  }
}
