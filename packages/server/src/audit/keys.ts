import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { associatedData, open, seal } from '../crypto/aead.js';
import { newId } from '../crypto/random.js';
import type { Db } from '../storage/database.js';
import { insertSigningKey, listSigningKeys } from './store.js';

export interface AuditKey {
  id: string;
  publicKey: KeyObject;
  /** SPKI DER, base64: what an auditor pins to verify checkpoints offline. */
  publicKeyDer: string;
  createdAt: number;
}

/**
 * The Ed25519 keys that sign audit checkpoints. Invariants:
 * - the newest key signs; older ones stay, since checkpoints they signed must keep verifying;
 * - a private key is stored only sealed by the root key, bound to its id (a row copied under
 *   another id does not open), and opened only to sign.
 */
export class AuditKeys {
  #keys: AuditKey[] = [];
  #signing: { id: string; privateKey: KeyObject } | null = null;

  constructor(private readonly deps: { db: Db; rootKey: Buffer }) {}

  /** Loads the keys, making the first one on first start. Called once, before any request. */
  async init(now: number): Promise<void> {
    await this.reload();
    if (this.#keys.length === 0) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const id = newId('audk');
      const sealed = seal(this.deps.rootKey, privateKey.export({ type: 'pkcs8', format: 'der' }), aad(id));
      const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
      // Two instances starting together may both make one: both are kept and both verify.
      await insertSigningKey(this.deps.db, { id, public_key: spki, private_key: sealed.ciphertext, nonce: sealed.nonce, created_at: now });
      await this.reload();
    }
  }

  async reload(): Promise<void> {
    const rows = await listSigningKeys(this.deps.db);
    this.#keys = rows.map((r) => ({
      id: r.id,
      publicKey: createPublicKey({ key: Buffer.from(r.public_key, 'base64'), format: 'der', type: 'spki' }),
      publicKeyDer: r.public_key,
      createdAt: Number(r.created_at),
    }));
    const newest = rows[rows.length - 1];
    if (newest && this.#signing?.id !== newest.id) {
      const der = open(this.deps.rootKey, { nonce: Buffer.from(newest.nonce), ciphertext: Buffer.from(newest.private_key) }, aad(newest.id));
      this.#signing = { id: newest.id, privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
    }
  }

  signer(): { id: string; privateKey: KeyObject } {
    if (!this.#signing) throw new Error('AuditKeys used before init');
    return this.#signing;
  }

  list(): readonly AuditKey[] {
    return this.#keys;
  }

  publicKeys(): ReadonlyMap<string, KeyObject> {
    return new Map(this.#keys.map((k) => [k.id, k.publicKey]));
  }
}

function aad(id: string): Buffer {
  return associatedData('audit-signing-key', id);
}
