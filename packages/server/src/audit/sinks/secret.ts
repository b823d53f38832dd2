import { associatedData, open, seal } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Db } from '../../storage/database.js';

/**
 * An org webhook's signing secret at rest: sealed with the org's active data key, bound to the org
 * and the sink id (a ciphertext copied onto another sink's row does not open), and opened again
 * with the data key version it names each time the dispatcher builds the sink. It must stay
 * recoverable (it signs every delivery), so it is encrypted, not hashed; it is never logged and
 * never answered after the creation answer.
 */
function aad(orgId: string, sinkId: string): Buffer {
  return associatedData('keynest.audit-sink-secret.v1', orgId, sinkId);
}

export async function sealSinkSecret(keyring: Keyring, db: Db, orgId: string, sinkId: string, secret: string) {
  const key = await keyring.activeKey(db, orgId);
  const sealed = seal(key.key, Buffer.from(secret, 'utf8'), aad(orgId, sinkId));
  return { secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: key.version };
}

export async function openSinkSecret(
  keyring: Keyring,
  db: Db,
  row: { id: string; org_id: string; secret_ciphertext: Buffer; secret_nonce: Buffer; key_version: number },
): Promise<string> {
  const key = await keyring.keyVersion(db, row.org_id, row.key_version);
  return open(key, { nonce: Buffer.from(row.secret_nonce), ciphertext: Buffer.from(row.secret_ciphertext) }, aad(row.org_id, row.id)).toString('utf8');
}
