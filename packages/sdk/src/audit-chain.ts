import { hash as digest, sign, verify, type KeyObject } from 'node:crypto';

/**
 * The audit hash chain, the one definition used to append, to verify on the server and to verify
 * an export offline. Invariants:
 * - every org has its own chain (`chainOf`); instance events (no org) form the chain '';
 * - record `seq` n (1, 2, …) holds `prev_hash` = hash of record n-1 (GENESIS_HASH for the first, or
 *   the anchor's hash after a retention purge) and `hash` = SHA-256(prev_hash "\n" canonical(record));
 * - canonical(record) is the JSON of every stored field but `id`, `hash` and `prev_hash`, keys in
 *   sorted order, null fields left out. So a column added later must be nullable with no default:
 *   old records keep their hash, new ones cover it.
 * - a checkpoint is an Ed25519 signature over (chain, seq, hash, at, kind): whoever rewrites the
 *   table, even consistently, cannot make the chain match a checkpoint without the signing key.
 */
export const GENESIS_HASH = '0'.repeat(64);

export function chainOf(orgId: string | null): string {
  return orgId ?? '';
}

/** A stored record as the chain sees it: its fields, with `seq` and `chain`. */
export type ChainedFields = Record<string, string | number | null | undefined>;

const EXCLUDED = new Set(['id', 'hash', 'prev_hash']);

/**
 * The hashed fields of a record, in canonical (sorted) order. Rows of one query share their keys,
 * so a verifier computes this once per shape rather than sorting every row.
 */
export function hashedKeys(record: ChainedFields): string[] {
  return Object.keys(record)
    .filter((k) => !EXCLUDED.has(k))
    .sort();
}

function canonicalWith(record: ChainedFields, keys: readonly string[]): string {
  // An object built in sorted key order, stringified in one native call (insertion order is
  // JSON.stringify's order for string keys).
  const out: Record<string, string | number> = {};
  for (const k of keys) {
    const v = record[k];
    if (v !== null && v !== undefined) out[k] = v;
  }
  return JSON.stringify(out);
}

export function canonical(record: ChainedFields): string {
  return canonicalWith(record, hashedKeys(record));
}

export function recordHash(record: ChainedFields, prevHash: string, keys: readonly string[] = hashedKeys(record)): string {
  return digest('sha256', `${prevHash}\n${canonicalWith(record, keys)}`, 'hex');
}

export type CheckpointKind = 'checkpoint' | 'anchor';

export interface CheckpointStatement {
  chain: string;
  seq: number;
  hash: string;
  at: number;
  kind: CheckpointKind;
}

function statementBytes(s: CheckpointStatement): Buffer {
  return Buffer.from(['keynest-audit-checkpoint-v1', s.chain, String(s.seq), s.hash, String(s.at), s.kind].join('\n'), 'utf8');
}

export function signStatement(s: CheckpointStatement, privateKey: KeyObject): string {
  return sign(null, statementBytes(s), privateKey).toString('base64');
}

export function statementSignedBy(s: CheckpointStatement, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, statementBytes(s), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Why a chain does not verify, naming the first record (or checkpoint) at fault. */
export type BreakReason =
  | 'hash_mismatch' // the record's content is not what was hashed: it was changed
  | 'link_mismatch' // its prev_hash is not the previous record's hash: records before it were changed or removed
  | 'missing_records' // seq jumps: records between were removed
  | 'truncated' // a signed checkpoint names a record past the end: the tail was removed
  | 'checkpoint_mismatch' // the record a checkpoint names has another hash: rewritten since
  | 'bad_signature' // a checkpoint or anchor is not signed by a known key
  | 'unchained'; // a record without seq/hash: written around the server

export interface ChainBreak {
  reason: BreakReason;
  /** The record at fault (absent when it is gone: `truncated`). */
  id: number | null;
  seq: number | null;
  message: string;
}

export interface SignedCheckpoint extends CheckpointStatement {
  keyId: string;
  signature: string;
}

export interface VerifyResult {
  ok: boolean;
  chain: string;
  records: number;
  /** The last record verified (seq 0 and the anchor or genesis hash when the chain is empty). */
  head: { seq: number; hash: string };
  checkpoints: number;
  /** Where the chain starts: after this signed anchor (a retention purge), else the beginning. */
  anchor: { seq: number; hash: string; at: number } | null;
  /** The first record verified (for an export of a period, where that period begins). */
  firstSeq: number | null;
  broken: ChainBreak | null;
}

export interface StoredRecord extends ChainedFields {
  id: number;
  seq: number | null;
  prev_hash: string | null;
  hash: string | null;
}

/**
 * Walks one chain in seq order and checks it against its signed checkpoints. Streaming: it holds
 * one record at a time, so a year of records verifies in constant memory. Stops at the first break.
 */
export class ChainVerifier {
  #expectedSeq: number;
  #prevHash: string;
  #records = 0;
  #broken: ChainBreak | null = null;
  readonly #checkpoints: Map<number, SignedCheckpoint[]>;
  readonly #anchor: SignedCheckpoint | null;
  /** The hashed keys of the rows being fed, and the key list they were computed from. */
  #shape: { signature: string; keys: string[] } | null = null;

  #firstSeq: number | null = null;
  readonly #segment: boolean;

  /**
   * `segment`: the records are a stretch of the chain (an export of a period), so the first one's
   * link to what came before is taken as given; everything from there on is checked.
   */
  constructor(
    readonly chain: string,
    checkpoints: readonly SignedCheckpoint[],
    publicKeys: ReadonlyMap<string, KeyObject>,
    options: { segment?: boolean } = {},
  ) {
    this.#segment = options.segment ?? false;
    const valid: SignedCheckpoint[] = [];
    for (const c of checkpoints) {
      const key = publicKeys.get(c.keyId);
      if (c.chain !== chain) continue;
      if (!key || !statementSignedBy(c, c.signature, key)) {
        this.#broken ??= { reason: 'bad_signature', id: null, seq: c.seq, message: `the ${c.kind} at seq ${c.seq} is not signed by a known audit key` };
        continue;
      }
      valid.push(c);
    }
    // The chain starts after the latest signed anchor; records before it were purged by retention.
    this.#anchor = valid.filter((c) => c.kind === 'anchor').reduce<SignedCheckpoint | null>((a, c) => (a === null || c.seq > a.seq ? c : a), null);
    this.#expectedSeq = (this.#anchor?.seq ?? 0) + 1;
    this.#prevHash = this.#anchor?.hash ?? GENESIS_HASH;
    this.#checkpoints = new Map();
    for (const c of valid) this.#checkpoints.set(c.seq, [...(this.#checkpoints.get(c.seq) ?? []), c]);
  }

  get broken(): ChainBreak | null {
    return this.#broken;
  }

  /** Feeds the next record (seq order); false once the chain is broken (stop feeding). */
  push(r: StoredRecord): boolean {
    if (this.#broken) return false;
    const id = Number(r.id);
    if (r.seq === null || r.hash === null || r.prev_hash === null) return this.#break('unchained', id, null, `record ${id} carries no chain link: it was written around the server`);
    const seq = Number(r.seq);
    if (seq < this.#expectedSeq) return true; // at or before the anchor: purged territory
    if (this.#segment && this.#firstSeq === null && seq > this.#expectedSeq) {
      this.#expectedSeq = seq;
      this.#prevHash = r.prev_hash;
    }
    if (seq > this.#expectedSeq) {
      return this.#break('missing_records', id, seq, `records ${this.#expectedSeq}${seq - 1 > this.#expectedSeq ? `–${seq - 1}` : ''} before record ${id} (seq ${seq}) are missing`);
    }
    if (r.prev_hash !== this.#prevHash) return this.#break('link_mismatch', id, seq, `record ${id} (seq ${seq}) does not follow the record before it`);
    if (recordHash(r, r.prev_hash, this.#keysOf(r)) !== r.hash) return this.#break('hash_mismatch', id, seq, `record ${id} (seq ${seq}) was changed after it was written`);
    for (const c of this.#checkpoints.get(seq) ?? []) {
      if (c.hash !== r.hash) return this.#break('checkpoint_mismatch', id, seq, `record ${id} (seq ${seq}) differs from the signed ${c.kind} of ${new Date(c.at).toISOString()}`);
    }
    this.#records++;
    this.#firstSeq ??= seq;
    this.#prevHash = r.hash;
    this.#expectedSeq = seq + 1;
    return true;
  }

  /** After the last record: a checkpoint past the end means the tail was removed. */
  finish(): VerifyResult {
    if (!this.#broken) {
      const headSeq = this.#expectedSeq - 1;
      const beyond = [...this.#checkpoints.keys()].filter((s) => s > headSeq).sort((a, b) => a - b)[0];
      if (beyond !== undefined) {
        this.#broken = { reason: 'truncated', id: null, seq: headSeq + 1, message: `records from seq ${headSeq + 1} on are missing: a signed checkpoint names seq ${beyond}` };
      }
    }
    return {
      ok: this.#broken === null,
      chain: this.chain,
      records: this.#records,
      head: { seq: this.#expectedSeq - 1, hash: this.#prevHash },
      checkpoints: [...this.#checkpoints.values()].reduce((n, cs) => n + cs.length, 0),
      anchor: this.#anchor ? { seq: this.#anchor.seq, hash: this.#anchor.hash, at: this.#anchor.at } : null,
      firstSeq: this.#firstSeq,
      broken: this.#broken,
    };
  }

  #keysOf(r: StoredRecord): string[] {
    const all = Object.keys(r);
    const signature = all.join(',');
    if (this.#shape?.signature !== signature) this.#shape = { signature, keys: hashedKeys(r) };
    return this.#shape.keys;
  }

  #break(reason: BreakReason, id: number | null, seq: number | null, message: string): false {
    this.#broken = { reason, id, seq, message };
    return false;
  }
}
