import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { associatedData, open, seal } from '../crypto/aead.js';
import { newId } from '../crypto/random.js';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/database.js';

export const JWT_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Another instance may have rotated: an unknown kid reloads the keys, at most this often. */
const RELOAD_INTERVAL_MS = 1000;
/**
 * And every instance rereads the keys this often anyway, so that a rotation made elsewhere (an
 * emergency one included) takes over its signing within a minute, far inside the time a retired
 * key stays valid (the token lifetime), before which no row is deleted.
 */
const REFRESH_INTERVAL_MS = 60_000;
/** After a failed rotation the current key keeps signing; the next attempt waits this long. */
const ROTATION_RETRY_MS = 60_000;

export interface SigningKeyPolicy {
  algorithm: JwtAlgorithm;
  /** A key signs for this long, then a new one takes over. */
  rotationMs: number;
  /** Tokens live this long: a retired key is published (and verifies) for this long after retiring. */
  tokenTtlMs: number;
  /** Allowed clock difference between instances and clients. */
  skewMs: number;
}

export interface SigningKey {
  kid: string;
  alg: JwtAlgorithm;
  createdAt: number;
  retiredAt: number | null;
  publicJwk: JsonWebKey;
  publicKey: KeyObject;
  /** Only the instance's own signing needs it; loaded on first use. */
  privateKey: () => KeyObject;
}

/**
 * The instance's JWT signing keys. Invariants:
 * - exactly one key signs at a time (the newest unretired); it is replaced after `rotationMs`, when
 *   the configured algorithm changes, or on demand (`rotate`);
 * - a retired key still verifies, and stays in the JWKS, until every token it signed has expired
 *   (`tokenTtlMs` + skew after it retired); then it is deleted;
 * - private keys leave memory only sealed by the root key, bound to their kid, so a key row copied
 *   under another kid does not open;
 * - a key verifies only tokens that name its own algorithm (no algorithm confusion).
 */
export class SigningKeys {
  #keys: SigningKey[] = [];
  #loadedAt = -Infinity;
  #loading: Promise<void> | null = null;
  /** A rotation or periodic reload running in the background (one at a time). */
  #background: Promise<void> | null = null;
  #rotationRetryAt = -Infinity;

  constructor(private readonly deps: { db: Db; rootKey: Buffer; policy: SigningKeyPolicy; log: Pick<Logger, 'error'> }) {}

  /**
   * Loads the keys, and makes a signing key of the configured algorithm if there is none (first
   * start, or the algorithm setting changed). Called once at start, before any request.
   */
  async init(now: number): Promise<void> {
    await this.#load(now);
    const key = this.#active();
    if (!key || key.alg !== this.deps.policy.algorithm) await this.#rotate(now, false);
  }

  /**
   * The key that signs now. When it is due for rotation, the rotation starts in the background and
   * this key keeps signing until it is done: a sign-in calls this inside its own transaction, and
   * must not wait for another one (SQLite has one connection).
   */
  current(now: number): SigningKey {
    const key = this.#active();
    if (!key) throw new Error('SigningKeys used before init');
    if (!this.#background) {
      if (this.#due(key, now) && now >= this.#rotationRetryAt) {
        this.#background = this.#rotate(now, false).catch((err: unknown) => {
          this.#rotationRetryAt = now + ROTATION_RETRY_MS;
          this.deps.log.error({ err }, 'signing key rotation failed; the current key keeps signing');
        });
      } else if (now - this.#loadedAt >= REFRESH_INTERVAL_MS) {
        this.#background = this.#reload(now).catch((err: unknown) => this.deps.log.error({ err }, 'reading the signing keys failed; the known keys stay in use'));
      }
      void this.#background?.finally(() => (this.#background = null));
    }
    return key;
  }

  /** Waits for background work under way (at shutdown). */
  async close(): Promise<void> {
    await this.#background;
  }

  /** The key a token names, if it is still valid for verification. */
  async find(kid: string, now: number): Promise<SigningKey | null> {
    let key = this.#verifying(kid, now);
    if (!key && now - this.#loadedAt >= RELOAD_INTERVAL_MS) {
      await this.#reload(now);
      key = this.#verifying(kid, now);
    }
    return key;
  }

  /** One read of the keys at a time, however many requests ask for it (junk kids included). */
  #reload(now: number): Promise<void> {
    this.#loadedAt = now;
    return (this.#loading ??= this.#load(now).finally(() => (this.#loading = null)));
  }

  /** The public keys that may have signed a live token, for /.well-known/jwks.json. */
  publicSet(now: number): { keys: JsonWebKey[] } {
    return { keys: this.#keys.filter((k) => this.#verifies(k, now)).map((k) => k.publicJwk) };
  }

  /**
   * A new signing key now (the old one keeps verifying its tokens). Returns the new kid; `record`
   * runs in the rotation's transaction (the audit record commits with the key, or neither does).
   */
  async rotate(now: number, record: (trx: Db, kid: string) => Promise<unknown>): Promise<string> {
    // After any background rotation, so that this one is the newest key.
    await this.#background;
    await this.#rotate(now, true, record);
    const key = this.#active();
    if (!key) throw new Error('no signing key after rotation');
    return key.kid;
  }

  #active(): SigningKey | undefined {
    return this.#keys.find((k) => k.retiredAt === null);
  }

  #due(key: SigningKey, now: number): boolean {
    return key.alg !== this.deps.policy.algorithm || now - key.createdAt >= this.deps.policy.rotationMs;
  }

  #verifies(key: SigningKey, now: number): boolean {
    const { tokenTtlMs, skewMs } = this.deps.policy;
    return key.retiredAt === null || now < key.retiredAt + tokenTtlMs + skewMs;
  }

  #verifying(kid: string, now: number): SigningKey | null {
    const key = this.#keys.find((k) => k.kid === kid);
    return key && this.#verifies(key, now) ? key : null;
  }

  async #rotate(now: number, force: boolean, record?: (trx: Db, kid: string) => Promise<unknown>): Promise<void> {
    const { db, policy } = this.deps;
    await db.transaction().execute(async (trx) => {
      // Re-read inside the transaction: another instance may have rotated a moment ago.
      const active = await trx.selectFrom('signing_keys').select(['kid', 'alg', 'created_at']).where('retired_at', 'is', null).orderBy('created_at', 'desc').execute();
      const newest = active[0];
      const fresh = newest && newest.alg === policy.algorithm && now - newest.created_at < policy.rotationMs;
      if (fresh && !force) return;
      await trx.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).execute();
      const key = this.#generate(now);
      await trx.insertInto('signing_keys').values(key).execute();
      await record?.(trx, key.kid);
      await trx
        .deleteFrom('signing_keys')
        .where('retired_at', '<', now - policy.tokenTtlMs - policy.skewMs)
        .execute();
    });
    await this.#load(now);
  }

  #generate(now: number) {
    const alg = this.deps.policy.algorithm;
    const kid = newId('key');
    const pair =
      alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : alg === 'ES256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
    const sealed = seal(this.deps.rootKey, pair.privateKey.export({ format: 'der', type: 'pkcs8' }), sealAad(kid, alg));
    return { kid, alg, public_jwk: JSON.stringify(jwk), private_key: sealed.ciphertext, nonce: sealed.nonce, created_at: now, retired_at: null };
  }

  async #load(now: number): Promise<void> {
    const rows = await this.deps.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid', 'desc').execute();
    const known = new Map(this.#keys.map((k) => [k.kid, k]));
    this.#keys = rows.map((row) => {
      const same = known.get(row.kid);
      if (same) return { ...same, retiredAt: row.retired_at };
      const publicJwk = JSON.parse(row.public_jwk) as JsonWebKey;
      let privateKey: KeyObject | undefined;
      return {
        kid: row.kid,
        alg: row.alg,
        createdAt: row.created_at,
        retiredAt: row.retired_at,
        publicJwk,
        publicKey: createPublicKey({ key: publicJwk, format: 'jwk' }),
        privateKey: () =>
          (privateKey ??= createPrivateKey({
            key: open(this.deps.rootKey, { nonce: Buffer.from(row.nonce), ciphertext: Buffer.from(row.private_key) }, sealAad(row.kid, row.alg)),
            format: 'der',
            type: 'pkcs8',
          })),
      };
    });
    this.#loadedAt = now;
  }
}

/** Bound to the kid and the algorithm: a sealed key moved to another row, or relabelled, does not open. */
function sealAad(kid: string, alg: JwtAlgorithm): Buffer {
  return associatedData('jwt-signing-key', kid, alg);
}
