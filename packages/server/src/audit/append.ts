import type { Db } from '../storage/database.js';
import type { DialectTraits } from '../storage/dialect.js';
import { PreparedQuery } from '../storage/prepared.js';
import { chainOf, GENESIS_HASH, hashedKeys, recordHash } from '@keynest/sdk/audit-chain';
import { AUDIT_COLUMNS, chainHead, chainHeadQuery, insertAuditEventsQuery, lockChainAndReadHead, type AuditRow } from './store.js';

/**
 * Most rows one INSERT carries: well under the bound-parameter limits of SQLite (32,766) and
 * PostgreSQL (65,535) at 20 columns a row.
 */
const INSERT_MAX_ROWS = 64;

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
      let { seq, hash } = head ?? { seq: 0, hash: GENESIS_HASH };
      for (const row of byChain.get(chain)!) {
        row.chain = chain;
        row.seq = ++seq;
        row.prev_hash = hash;
        row.hash = hash = recordHash(row as Record<string, string | number | null>, hash, HASHED_FIELDS);
      }
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
