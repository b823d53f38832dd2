import { newId } from '../crypto/random.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../storage/database.js';
import { findOrg, insertOrg } from './store.js';

/**
 * Organizations: the tenant boundary. Invariant: an org is never without an active data key —
 * it is created in the same transaction as the org.
 */
export class OrgService {
  constructor(private readonly deps: { db: Db; keyring: Keyring }) {}

  async createOrg(trx: Db, name: string, now: number): Promise<{ id: string; name: string }> {
    const id = newId('org');
    await insertOrg(trx, { id, name, now });
    await this.deps.keyring.createOrgKey(trx, id, now);
    return { id, name };
  }

  getOrg(id: string): Promise<{ id: string; name: string } | undefined> {
    return findOrg(this.deps.db, id);
  }
}
