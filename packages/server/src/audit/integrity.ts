import type { Db } from '../storage/database.js';
import type { DialectTraits } from '../storage/dialect.js';
import { ChainVerifier, chainOf, signStatement, type CheckpointKind, type SignedCheckpoint, type VerifyResult } from '@keynest/sdk/audit-chain';
import { exportLines, type ExportFormat, type ExportWindow } from './export.js';
import type { AuditKeys } from './keys.js';
import type { AuditContext, AuditService } from './service.js';
import * as store from './store.js';

/** Records read per query while verifying: large enough to stream fast, small enough to hold. */
const VERIFY_PAGE = 5000;

export interface RetentionPolicy {
  /** Records older than this go at the next purge (per org, else the deployment default). */
  retentionMs(orgId: string | null): Promise<number>;
}

export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
  kind: CheckpointKind;
  keyId: string;
  signature: string;
}

/**
 * What makes the audit log provable: verification of a chain against its signed checkpoints,
 * checkpoints (periodic and on demand) and the retention purge that leaves a signed anchor.
 */
export class AuditIntegrity {
  constructor(
    private readonly deps: {
      db: Db;
      traits: Pick<DialectTraits, 'supportsAdvisoryLocks'>;
      keys: AuditKeys;
      audit: AuditService;
      retention: RetentionPolicy;
    },
  ) {}

  /** Walks the org's whole chain; names the first broken record. */
  async verify(orgId: string | null): Promise<VerifyResult> {
    const { db, keys } = this.deps;
    const chain = chainOf(orgId);
    // A key another instance made since start signs checkpoints this one must recognise.
    await keys.reload();
    const verifier = new ChainVerifier(chain, await store.listCheckpoints(db, chain), keys.publicKeys());
    const unchained = await store.firstUnchained(db, chain);
    if (unchained) verifier.push({ id: Number(unchained.id), seq: null, prev_hash: null, hash: null });
    let after = -1;
    for (;;) {
      const page = await store.chainPage(db, chain, after, VERIFY_PAGE);
      for (const row of page) if (!verifier.push(row as Parameters<ChainVerifier['push']>[0])) return verifier.finish();
      if (page.length < VERIFY_PAGE) return verifier.finish();
      after = Number(page[page.length - 1]!.seq);
    }
  }

  /**
   * Signs the head of the org's chain now, after recording who asked (so the checkpoint covers
   * its own record). Null when the chain is empty.
   */
  async checkpointNow(ctx: AuditContext): Promise<Checkpoint | null> {
    return this.deps.db.transaction().execute(async (trx) => {
      await this.deps.audit.record(trx, ctx, { action: 'audit.checkpoint' });
      const signed = await this.#sign(trx, ctx.orgId, 'checkpoint', ctx.now);
      return signed && toView(signed);
    });
  }

  /** Every chain that moved since its last checkpoint gets a new one (the periodic job). */
  async checkpointAll(now: number): Promise<number> {
    const { db } = this.deps;
    const signedUpTo = new Map((await store.latestCheckpointSeqs(db)).map((r) => [r.chain, Number(r.seq)]));
    let made = 0;
    for (const head of await store.chainHeads(db)) {
      const chain = head.chain!;
      if (Number(head.seq) <= (signedUpTo.get(chain) ?? 0)) continue;
      const signed = await db.transaction().execute((trx) => this.#sign(trx, chain === '' ? null : chain, 'checkpoint', now, { unlessSigned: true }));
      if (signed) made++;
    }
    return made;
  }

  /**
   * The org's records in a time window as JSON lines (verifiable offline) or CSV, streamed. The
   * export itself is recorded first (who took the log away, in which format, of which period).
   */
  async export(ctx: AuditContext, format: ExportFormat, window: ExportWindow): Promise<AsyncGenerator<string>> {
    const orgId = ctx.orgId;
    if (orgId === null) throw new Error('an export is of an org');
    await this.deps.db.transaction().execute((trx) =>
      this.deps.audit.record(trx, ctx, {
        action: 'audit.export',
        details: { format, from: window.from === undefined ? null : new Date(window.from).toISOString(), to: window.to === undefined ? null : new Date(window.to).toISOString() },
      }),
    );
    return exportLines(this.deps.db, this.deps.keys, orgId, format, window, ctx.now);
  }

  /** The keys that sign checkpoints (SPKI DER, base64), for verifying them elsewhere. */
  publicKeys(): { id: string; algorithm: 'Ed25519'; publicKey: string; createdAt: string }[] {
    return this.deps.keys.list().map((k) => ({ id: k.id, algorithm: 'Ed25519', publicKey: k.publicKeyDer, createdAt: new Date(k.createdAt).toISOString() }));
  }

  async checkpoints(orgId: string | null): Promise<Checkpoint[]> {
    return (await store.listCheckpoints(this.deps.db, chainOf(orgId))).map(toView);
  }

  /**
   * Removes each chain's records older than its retention, leaving a signed anchor at the last
   * removed record so the rest still verifies (and the database lets the rows go: migration 011).
   * Recorded in the chain itself.
   */
  async purge(now: number): Promise<{ chain: string; removed: number }[]> {
    const { db, retention } = this.deps;
    const out: { chain: string; removed: number }[] = [];
    for (const head of await store.chainHeads(db)) {
      const chain = head.chain!;
      const orgId = chain === '' ? null : chain;
      const cutoff = now - (await retention.retentionMs(orgId));
      const removed = await db.transaction().execute(async (trx) => {
        await store.lockChain(trx, this.deps.traits, chain);
        const last = await store.lastRecordBefore(trx, chain, cutoff);
        if (!last || last.seq === null || last.hash === null) return 0;
        await store.insertCheckpoint(trx, orgId, this.#signed({ chain, seq: Number(last.seq), hash: last.hash, at: now, kind: 'anchor' }));
        const result = await store.deleteUpTo(trx, chain, Number(last.seq));
        const count = Number(result.numDeletedRows);
        await this.deps.audit.record(trx, { orgId, actor: { type: 'system', id: null }, ip: null, requestId: null, now }, {
          action: 'audit.purge',
          details: { removed: count, upToSeq: Number(last.seq), before: new Date(cutoff).toISOString() },
        });
        return count;
      });
      if (removed > 0) out.push({ chain, removed });
    }
    return out;
  }

  /**
   * `unlessSigned`: not when a checkpoint already covers the head — another round (this
   * instance's timer, another instance's, an on-demand one) may have signed it since this round
   * looked; under the chain's lock the answer holds.
   */
  async #sign(trx: Db, orgId: string | null, kind: CheckpointKind, now: number, opts: { unlessSigned?: boolean } = {}): Promise<SignedCheckpoint | null> {
    const chain = chainOf(orgId);
    await store.lockChain(trx, this.deps.traits, chain);
    const head = await store.chainHead(trx, chain);
    if (!head) return null;
    if (opts.unlessSigned && (await store.lastCheckpointSeq(trx, chain)) >= head.seq) return null;
    const signed = this.#signed({ chain, seq: head.seq, hash: head.hash, at: now, kind });
    await store.insertCheckpoint(trx, orgId, signed);
    return signed;
  }

  #signed(statement: Omit<SignedCheckpoint, 'keyId' | 'signature'>): SignedCheckpoint {
    const key = this.deps.keys.signer();
    return { ...statement, keyId: key.id, signature: signStatement(statement, key.privateKey) };
  }
}

function toView(c: SignedCheckpoint): Checkpoint {
  return { seq: c.seq, hash: c.hash, at: new Date(c.at).toISOString(), kind: c.kind, keyId: c.keyId, signature: c.signature };
}
