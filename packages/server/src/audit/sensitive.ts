import { createHmac, hkdfSync } from 'node:crypto';

/** What a keyed digest in a record starts with (as Vault writes its audit HMACs). */
export const HMAC_PREFIX = 'hmac-sha256:';

/**
 * Strings an audit record needs to tell apart but must not keep readable — what someone typed as
 * their sign-in name (often, by mistake, their password) — are kept as a keyed HMAC-SHA256. The
 * same input gives the same digest, so an investigator can group failures by it and look one up
 * (`POST /api/v1/audit/hash`, search `login=`), while the log itself, its exports and its sinks give
 * nothing away, and without the key nobody can test guesses against it offline. The key is derived
 * from the root key (HKDF, its own label), so there is nothing more to store or back up.
 */
export class SensitiveStrings {
  readonly #key: Buffer;

  constructor(rootKey: Buffer) {
    this.#key = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'keynest-audit-hmac-v1', 32));
  }

  digest(value: string): string {
    return HMAC_PREFIX + createHmac('sha256', this.#key).update(value, 'utf8').digest('hex');
  }

  /** A sign-in name as the records keep it: normalised as sign-in does (any case, any padding, one digest). */
  login(name: string): string {
    return this.digest(name.trim().toLowerCase());
  }
}
