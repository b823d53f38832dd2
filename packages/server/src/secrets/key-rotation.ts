import type { AuditService } from '../audit/service.js';
import { auditContextOf, type RequestContext } from '../context.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../storage/database.js';
import { isUniqueViolation } from '../storage/dialect.js';
import { AppError } from '../errors.js';
import { decryptValue, encryptWith } from './cipher.js';
import * as store from './store.js';

/**
 * Data-key rotation. `rotate` makes a new data key active at once (new writes use it; old
 * versions still decrypt with theirs). `reencrypt` then moves old versions to the active key in
 * bounded batches, each its own transaction with its own audit record, so a large org is never
 * locked for long and an interrupted pass simply resumes.
 */
export class KeyRotationService {
  constructor(private readonly deps: { db: Db; keyring: Keyring; audit: AuditService }) {}

  async rotate(ctx: RequestContext): Promise<{ keyVersion: number; remaining: number }> {
    try {
      return await this.#rotate(ctx);
    } catch (err) {
      // Two rotations at once both pick max+1; the second fails on the key's primary key.
      if (isUniqueViolation(err)) throw new AppError('version_conflict', 'Another key rotation ran at the same moment; try again');
      throw err;
    }
  }

  #rotate(ctx: RequestContext): Promise<{ keyVersion: number; remaining: number }> {
    return this.deps.db.transaction().execute(async (trx) => {
      const keyVersion = await this.deps.keyring.rotate(trx, ctx.principal.orgId, ctx.now);
      const remaining = await store.countVersionsOnOldKeys(trx, ctx.principal.orgId, keyVersion);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'keys.rotate', target: { type: 'org', id: ctx.principal.orgId }, details: { keyVersion, remaining } });
      return { keyVersion, remaining };
    });
  }

  async reencrypt(ctx: RequestContext, batchSize: number): Promise<{ reencrypted: number; remaining: number; keyVersion: number }> {
    const orgId = ctx.principal.orgId;
    const { keyring } = this.deps;
    return this.deps.db.transaction().execute(async (trx) => {
      const active = await keyring.activeKey(trx, orgId);
      const rows = await store.versionsOnOldKeys(trx, orgId, active.version, batchSize);
      for (const r of rows) {
        const address = { orgId, projectId: r.project_id, environmentId: r.environment_id, key: r.key, version: r.version };
        const value = await decryptValue(keyring, trx, address, { ciphertext: r.ciphertext, nonce: r.nonce, keyVersion: r.key_version });
        const sealed = encryptWith(active, address, value);
        await store.replaceVersionCipher(trx, {
          orgId,
          secretId: r.secret_id,
          version: r.version,
          fromKeyVersion: r.key_version,
          ciphertext: sealed.ciphertext,
          nonce: sealed.nonce,
          keyVersion: sealed.keyVersion,
        });
      }
      const remaining = await store.countVersionsOnOldKeys(trx, orgId, active.version);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'keys.reencrypt',
        target: { type: 'org', id: orgId },
        details: { keyVersion: active.version, reencrypted: rows.length, remaining },
      });
      return { reencrypted: rows.length, remaining, keyVersion: active.version };
    });
  }
}
