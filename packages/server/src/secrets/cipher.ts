import { associatedData, open, seal } from '../crypto/aead.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../storage/database.js';

/** Where a secret version lives; all of it is bound into the ciphertext as associated data. */
export interface VersionAddress {
  orgId: string;
  projectId: string;
  environmentId: string;
  key: string;
  version: number;
}

export interface StoredCipher {
  ciphertext: Buffer;
  nonce: Buffer;
  keyVersion: number;
}

/**
 * Binding the address into the AEAD means a ciphertext copied onto another row, another key name,
 * another version or another org fails to decrypt instead of yielding a wrong secret.
 */
function aad(a: VersionAddress): Buffer {
  return associatedData('keynest.secret.v1', a.orgId, a.projectId, a.environmentId, a.key, a.version);
}

export async function encryptValue(keyring: Keyring, db: Db, a: VersionAddress, value: string): Promise<StoredCipher> {
  const dataKey = await keyring.activeKey(db, a.orgId);
  return encryptWith(dataKey, a, value);
}

export function encryptWith(dataKey: { version: number; key: Buffer }, a: VersionAddress, value: string): StoredCipher {
  const sealed = seal(dataKey.key, Buffer.from(value, 'utf8'), aad(a));
  return { ciphertext: sealed.ciphertext, nonce: sealed.nonce, keyVersion: dataKey.version };
}

export async function decryptValue(keyring: Keyring, db: Db, a: VersionAddress, stored: StoredCipher): Promise<string> {
  const key = await keyring.keyVersion(db, a.orgId, stored.keyVersion);
  return open(key, { nonce: Buffer.from(stored.nonce), ciphertext: Buffer.from(stored.ciphertext) }, aad(a)).toString('utf8');
}
