import { hkdfSync, randomBytes } from 'node:crypto';
import type { Db } from '../storage/database.js';
import { associatedData, open, seal, type Sealed } from './aead.js';
import { PreparedQuery } from '../storage/prepared.js';
import * as store from './store.js';

const DATA_KEY_BYTES = 32;

export interface DataKey {
  version: number;
  key: Buffer;
}

/** A fault, not a "no": the key material is missing or does not open with this root key. */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/**
 * Envelope encryption: the root key wraps one versioned data key per organization; data keys
 * encrypt values. Unwrapped data keys are cached in memory (they are immutable per version);
 * which version is *active* is read from the database on each write, so a rotation on one
 * instance is seen by every instance at once.
 */
export class Keyring {
  readonly #root: Buffer;
  readonly #unwrapped = new Map<string, Buffer>();
  readonly #purposes = new Map<string, Buffer>();
  /** Every write of a value looks its org's active key up: compiled once. */
  readonly #findActive = new PreparedQuery((db: Db, orgId: string) => store.findActiveDataKeyQuery(db, orgId));

  constructor(rootKey: Buffer) {
    this.#root = rootKey;
  }

  /** Creates the organization's first data key, inside the caller's transaction. */
  async createOrgKey(trx: Db, orgId: string, now: number): Promise<void> {
    await this.#insertKey(trx, orgId, 1, now);
  }

  /** Retires the active data key and makes a new one active; returns its version. */
  async rotate(trx: Db, orgId: string, now: number): Promise<number> {
    const version = (await store.maxDataKeyVersion(trx, orgId)) + 1;
    await store.retireDataKeys(trx, orgId);
    await this.#insertKey(trx, orgId, version, now);
    return version;
  }

  async activeKey(db: Db, orgId: string): Promise<DataKey> {
    const row = await this.#findActive.executeTakeFirst(db, orgId);
    if (!row) throw new KeyringError(`organization ${orgId} has no active data key`);
    return { version: row.version, key: this.#unwrap(orgId, row) };
  }

  async keyVersion(db: Db, orgId: string, version: number): Promise<Buffer> {
    const cached = this.#unwrapped.get(`${orgId}:${version}`);
    if (cached) return cached;
    const row = await store.findDataKey(db, orgId, version);
    if (!row) throw new KeyringError(`organization ${orgId} has no data key version ${version}`);
    return this.#unwrap(orgId, row);
  }

  /**
   * A key for one instance-wide purpose that belongs to no org (a user's TOTP seed, the pepper of
   * backup-code digests), derived from the root key with HKDF-SHA256 so each purpose has its own.
   */
  purposeKey(purpose: 'totp-seed' | 'backup-code'): Buffer {
    let key = this.#purposes.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.#root, Buffer.alloc(0), `keynest.${purpose}.v1`, DATA_KEY_BYTES));
      this.#purposes.set(purpose, key);
    }
    return key;
  }

  async #insertKey(trx: Db, orgId: string, version: number, now: number): Promise<void> {
    const key = randomBytes(DATA_KEY_BYTES);
    const wrapped = seal(this.#root, key, wrapAad(orgId, version));
    await store.insertDataKey(trx, { orgId, version, wrappedKey: wrapped.ciphertext, nonce: wrapped.nonce, state: 'active', now });
  }

  #unwrap(orgId: string, row: { version: number; wrapped_key: Buffer; nonce: Buffer }): Buffer {
    const id = `${orgId}:${row.version}`;
    const cached = this.#unwrapped.get(id);
    if (cached) return cached;
    let key: Buffer;
    try {
      key = open(this.#root, { nonce: Buffer.from(row.nonce), ciphertext: Buffer.from(row.wrapped_key) }, wrapAad(orgId, row.version));
    } catch {
      throw new KeyringError(`data key ${id} does not open with this root key (wrong KEYNEST_ROOT_KEY or root.key?)`);
    }
    this.#unwrapped.set(id, key);
    return key;
  }
}

function wrapAad(orgId: string, version: number): Buffer {
  return associatedData('keynest.data-key.v1', orgId, version);
}

export type { Sealed };
