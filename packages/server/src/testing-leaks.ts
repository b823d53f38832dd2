import type { Keyring } from './crypto/keyring.js';
import { decryptValue } from './secrets/cipher.js';
import { versionsWithAddress } from './secrets/store.js';
import type { Db } from './storage/database.js';

/** Values shorter than this are too likely to occur in logs by chance ("1", "true") to be evidence. */
export const LEAK_CHECK_MIN_LENGTH = 8;

/**
 * Every value ever stored in this database (all versions, decrypted), for tests that grep logs
 * and outputs for leaks. Test support only: production code never enumerates plaintexts.
 */
export async function allStoredValues(db: Db, keyring: Keyring): Promise<string[]> {
  const rows = await versionsWithAddress(db).execute();
  const values = new Set<string>();
  for (const r of rows) {
    const address = { orgId: r.org_id, projectId: r.project_id, environmentId: r.environment_id, key: r.key, version: r.version };
    values.add(await decryptValue(keyring, db, address, { ciphertext: r.ciphertext, nonce: r.nonce, keyVersion: r.key_version }));
  }
  return [...values];
}

/** The stored values (long enough to be evidence) that occur in `text`. */
export function leakedValues(values: string[], text: string): string[] {
  return values.filter((v) => v.length >= LEAK_CHECK_MIN_LENGTH && text.includes(v));
}
