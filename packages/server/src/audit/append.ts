import type { Db } from '../storage/database.js';
import type { DialectTraits } from '../storage/dialect.js';
import { PreparedQuery } from '../storage/prepared.js';
import { chainOf, GENESIS_HASH, hashedKeys, recordHash } from '@keynest/sdk/audit-chain';
import { appendAtHead, AUDIT_COLUMNS, chainHead, chainHeadQuery, insertAuditEventsQuery, lockChainAndReadHead, type AuditRow, type ChainHead } from './store.js';

/**
 * Most rows one INSERT carries: well under the bound-parameter limits of SQLite (32,766) and
 * PostgreSQL (65,535) at 20 columns a row.
 */
const INSERT_MAX_ROWS = 64;

/** Tries of the one-round-trip append (PostgreSQL) before a locked transaction does it. */
const AT_HEAD_ATTEMPTS = 2;

/** Chains whose head an appender remembers (one per org that appends); past this it starts over. */
const KNOWN_HEADS_MAX = 10_000;

/** The canonical field order of the rows written here (every row has every AUDIT_COLUMN), sorted once. */
const HASHED_FIELDS = hashedKeys(Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, null])));

/**
 * Links audit rows into their org's hash chain and inserts them, inside a transaction the caller
 * owns: a record that commits is linked, one that rolls back took no place in the chain. Appends
 * to one chain take turns — a PostgreSQL advisory lock until the transaction ends; SQLite has one
 * connection, held by the caller for the whole append — so the head read and the
 * insert never interleave with another append.
 */
export class ChainAppender {
  /** A prepared multi-row INSERT per row count, compiled on first use. */
  readonly #inserts = new Map<number, PreparedQuery<unknown[], unknown>>();
  /** The chain head lookup, prepared once (it runs on every append). */
  readonly #head = new PreparedQuery((db: Db, chain: string) => chainHeadQuery(db, chain));

  constructor(private readonly traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>) {}

  /**
   * PostgreSQL only: the head each chain had after this appender's last commit by itself. Only a
   * guess — other instances and write transactions append too — that `appendAlone` checks under
   * the chain's lock (undefined: a new chain; absent: not known).
   */
  readonly #heads = new Map<string, ChainHead>();

  /**
   * PostgreSQL: rows of one chain, committed by themselves. Linked to the head this appender last
   * left and sent in one round trip (migration 020), which inserts them only if that is still the
   * head; if not, linked again to the head it returned. Otherwise (not known, or still moving) a
   * transaction takes the lock and reads the head first, as `append` does.
   */
  async appendAlone(db: Db, rows: AuditRow[]): Promise<void> {
    const chain = chainOf(rows[0]!.org_id ?? null);
    for (let attempt = 0; attempt < AT_HEAD_ATTEMPTS && this.#heads.has(chain); attempt++) {
      const expected = this.#heads.get(chain);
      link(rows, chain, expected);
      const done = await appendAtHead(db, chain, expected, rows);
      if (done.appended) return this.#remember(chain, rows);
      this.#heads.set(chain, done.head);
    }
    await db.transaction().execute((trx) => this.append(trx, rows));
    this.#remember(chain, rows);
  }

  #remember(chain: string, rows: readonly AuditRow[]): void {
    const last = rows[rows.length - 1]!;
    if (!this.#heads.has(chain) && this.#heads.size >= KNOWN_HEADS_MAX) this.#heads.clear();
    this.#heads.set(chain, { seq: last.seq!, hash: last.hash! });
  }

  async append(trx: Db, rows: AuditRow[]): Promise<void> {
    const byChain = new Map<string, AuditRow[]>();
    for (const row of rows) {
      const chain = chainOf(row.org_id ?? null);
      const group = byChain.get(chain);
      if (group) group.push(row);
      else byChain.set(chain, [row]);
    }
    // A fixed order of locks, so two appends to the same chains cannot wait on each other.
    for (const chain of [...byChain.keys()].sort()) {
      const head = this.traits.supportsAdvisoryLocks ? await lockChainAndReadHead(trx, chain) : await chainHead(trx, chain, this.#head);
      link(byChain.get(chain)!, chain, head);
    }
    for (let at = 0; at < rows.length; at += INSERT_MAX_ROWS) await this.#insert(trx, rows.slice(at, at + INSERT_MAX_ROWS));
  }

  #insert(db: Db, rows: AuditRow[]): Promise<unknown> {
    let insert = this.#inserts.get(rows.length);
    if (!insert) this.#inserts.set(rows.length, (insert = new PreparedQuery((d: Db, ...values: unknown[]) => insertAuditEventsQuery(d, ...values))));
    const values: unknown[] = [];
    for (const row of rows) for (const c of AUDIT_COLUMNS) values.push(row[c]);
    return insert.execute(db, ...values);
  }
}

/** Links `rows` (of one chain, in order) after `head` (undefined: the chain starts with them). */
function link(rows: readonly AuditRow[], chain: string, head: ChainHead): void {
  let { seq, hash } = head ?? { seq: 0, hash: GENESIS_HASH };
  for (const row of rows) {
    row.chain = chain;
    row.seq = ++seq;
    row.prev_hash = hash;
    row.hash = hash = recordHash(row as Record<string, string | number | null>, hash, HASHED_FIELDS);
  }
}
