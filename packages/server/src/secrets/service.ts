import { can, canSeeEnvironment } from '../access/policy.js';
import { actorOf } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import { auditContextOf, iso, isoOrNull, type RequestContext } from '../context.js';
import { constantTimeEqual, newId } from '../crypto/random.js';
import type { Keyring } from '../crypto/keyring.js';
import { AppError, notFound } from '../errors.js';
import type { ProjectService, Target } from '../projects/service.js';
import { isUniqueViolation } from '../storage/dialect.js';
import { PreparedQuery } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';
import type { Db } from '../storage/database.js';
import { decryptValue, encryptWith, type VersionAddress } from './cipher.js';
import { ReferenceResolver, ReferenceError, hasReferences, type ReferenceSource } from './references.js';
import { assertSecretKey, assertSecretValue } from './rules.js';
import * as store from './store.js';
import type { SecretRow } from './store.js';

export type EnvTarget = Required<Target>;

export interface Actor {
  type: string;
  id: string;
  name: string | null;
}

export interface SecretView {
  key: string;
  value?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: Actor;
  deletedAt: string | null;
}

export type WriteStatus = 'added' | 'changed' | 'unchanged' | 'restored';
export interface WriteResult {
  key: string;
  version: number;
  status: WriteStatus;
}

export interface SecretWrite {
  key: string;
  value: string;
  ifVersion?: number;
}

/** Blind writes that lose a race to another writer are retried; a write with ifVersion is not. */
const WRITE_ATTEMPTS = 3;

/**
 * Secrets and their versions. Invariants:
 * - values are stored only as AES-256-GCM ciphertext bound to org/project/env/key/version;
 * - every write commits with its audit record in one transaction; every value returned to a
 *   caller has had its read recorded first (if the record cannot be written, nothing is returned);
 * - versions only grow; a rollback writes a new version equal to an old one; delete is soft;
 * - `ifVersion` is a compare-and-set against the live version (0 = "no live secret").
 */
export class SecretService {
  // The two reads every `keynest run` and every secret GET makes, compiled once.
  readonly #findSecret = new PreparedQuery((db, orgId: string, envId: string, key: string) => store.findSecretQuery(db, orgId, envId, key));
  readonly #listLive = new PreparedQuery((db, orgId: string, envId: string) => store.listSecretsQuery(db, orgId, envId, false));
  // …and the statements of every write.
  readonly #advanceVersion = new PreparedQuery(store.advanceVersionQuery);
  readonly #insertVersion = new PreparedQuery((db, ...values: unknown[]) => store.insertVersionQuery(db, ...values));

  constructor(private readonly deps: { db: Db; keyring: Keyring; audit: AuditService; projects: ProjectService }) {}

  async list(ctx: RequestContext, target: EnvTarget, opts: { values: boolean; raw: boolean; includeDeleted: boolean }): Promise<SecretView[]> {
    const { db } = this.deps;
    const rows = opts.includeDeleted
      ? await store.listSecrets(db, ctx.principal.orgId, target.environment.id, true)
      : await this.#listLive.execute(db, ctx.principal.orgId, target.environment.id);
    if (!opts.values) return rows.map((r) => view(r));
    const live = rows.filter((r) => r.deleted_at === null);
    const raw = new Map<string, string>();
    for (const r of live) raw.set(r.key, await this.#decrypt(db, r));
    const values = new Map(raw);
    const references = new Set<string>();
    if (!opts.raw) {
      const resolver = this.#resolver(ctx, target, raw, references);
      await resolving(async () => {
        for (const [key, value] of raw) if (hasReferences(value)) values.set(key, await resolver.resolve(target.environment.name, key, value));
      });
    }
    await this.#recordRead(ctx, target, [...raw.keys()], references);
    return rows.map((r) => view(r, values.get(r.key)));
  }

  async get(ctx: RequestContext, target: EnvTarget, key: string, opts: { raw: boolean }): Promise<SecretView> {
    assertSecretKey(key);
    const { db } = this.deps;
    const row = await this.#findSecret.executeTakeFirst(db, ctx.principal.orgId, target.environment.id, key);
    if (!row || row.deleted_at !== null) throw notFound('secret');
    let value = await this.#decrypt(db, row);
    const references = new Set<string>();
    if (!opts.raw && hasReferences(value)) {
      const resolver = this.#resolver(ctx, target, new Map([[key, value]]), references);
      const rawValue = value;
      value = await resolving(() => resolver.resolve(target.environment.name, key, rawValue));
    }
    await this.#recordRead(ctx, target, [key], references);
    return view(row, value);
  }

  async set(ctx: RequestContext, target: EnvTarget, items: SecretWrite[]): Promise<WriteResult[]> {
    const seen = new Set<string>();
    for (const it of items) {
      assertSecretKey(it.key);
      assertSecretValue(it.key, it.value);
      if (seen.has(it.key)) throw new AppError('validation_failed', `Key ${it.key} appears more than once in one write`);
      seen.add(it.key);
    }
    return this.#inWriteTransaction(items.some((it) => it.ifVersion !== undefined), (trx) => this.#writeAll(trx, ctx, target, items));
  }

  /** One write transaction; a blind write that lost a race to another writer is tried again. */
  async #inWriteTransaction<T>(conditional: boolean, work: (trx: Db) => Promise<T>): Promise<T> {
    const attempts = conditional ? 1 : WRITE_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.deps.db.transaction().execute(work);
      } catch (err) {
        const lostRace = err instanceof ConcurrentWrite || isUniqueViolation(err);
        if (!lostRace) throw err;
        if (attempt >= attempts) throw new AppError('version_conflict', 'The secret was changed by another writer; read it again and retry');
      }
    }
  }

  async delete(ctx: RequestContext, target: EnvTarget, key: string, ifVersion: number | undefined): Promise<void> {
    assertSecretKey(key);
    await this.deps.db.transaction().execute(async (trx) => {
      const row = await store.findSecret(trx, ctx.principal.orgId, target.environment.id, key);
      if (!row || row.deleted_at !== null) throw notFound('secret');
      checkVersion(key, row, ifVersion);
      const a = actorOf(ctx.principal);
      const ok = await store.setDeleted(trx, { orgId: ctx.principal.orgId, id: row.id, version: row.current_version, deletedAt: ctx.now, now: ctx.now, actorType: a.type, actorId: a.id });
      if (!ok) throw new AppError('version_conflict', `${key} was changed by another writer`);
      await this.#audit(trx, ctx, target, 'secret.delete', key, row.id, { version: row.current_version });
    });
  }

  async restore(ctx: RequestContext, target: EnvTarget, key: string): Promise<WriteResult> {
    assertSecretKey(key);
    return this.deps.db.transaction().execute(async (trx) => {
      const row = await store.findSecret(trx, ctx.principal.orgId, target.environment.id, key);
      if (!row) throw notFound('secret');
      if (row.deleted_at === null) throw new AppError('secret_not_deleted', `${key} is not deleted`);
      const a = actorOf(ctx.principal);
      const ok = await store.setDeleted(trx, { orgId: ctx.principal.orgId, id: row.id, version: row.current_version, deletedAt: null, now: ctx.now, actorType: a.type, actorId: a.id });
      if (!ok) throw new AppError('version_conflict', `${key} was changed by another writer`);
      await this.#audit(trx, ctx, target, 'secret.restore', key, row.id, { version: row.current_version });
      return { key, version: row.current_version, status: 'restored' as const };
    });
  }

  async versions(ctx: RequestContext, target: EnvTarget, key: string) {
    assertSecretKey(key);
    const row = await store.findSecret(this.deps.db, ctx.principal.orgId, target.environment.id, key);
    if (!row) throw notFound('secret');
    const rows = await store.listVersions(this.deps.db, ctx.principal.orgId, row.id);
    return {
      key,
      deletedAt: isoOrNull(row.deleted_at),
      versions: rows.map((v) => ({
        version: v.version,
        action: v.action,
        createdAt: iso(v.created_at),
        createdBy: { type: v.created_by_type, id: v.created_by_id, name: v.created_by_email ?? v.created_by_token ?? null },
        current: v.version === row.current_version,
      })),
    };
  }

  async rollback(ctx: RequestContext, target: EnvTarget, key: string, version: number, ifVersion: number | undefined): Promise<WriteResult> {
    assertSecretKey(key);
    return this.#inWriteTransaction(ifVersion !== undefined, async (trx) => {
      const row = await store.findSecret(trx, ctx.principal.orgId, target.environment.id, key);
      if (!row) throw notFound('secret');
      const old = await store.findVersionCipher(trx, ctx.principal.orgId, row.id, version);
      if (!old) throw new AppError('version_not_found', `${key} has no version ${version}`);
      const value = await decryptValue(this.deps.keyring, trx, address(ctx, target, key, version), {
        ciphertext: old.ciphertext,
        nonce: old.nonce,
        keyVersion: old.key_version,
      });
      const [result] = await this.#writeAll(trx, ctx, target, [{ key, value, ...(ifVersion !== undefined ? { ifVersion } : {}) }], {
        action: 'rollback',
        fromVersion: version,
      });
      return result!;
    });
  }

  async #writeAll(trx: Db, ctx: RequestContext, target: EnvTarget, items: SecretWrite[], rollback?: { action: 'rollback'; fromVersion: number }): Promise<WriteResult[]> {
    const orgId = ctx.principal.orgId;
    const found =
      items.length === 1
        ? await this.#findSecret.execute(trx, orgId, target.environment.id, items[0]!.key)
        : await store.findSecretsByKeys(trx, orgId, target.environment.id, items.map((i) => i.key));
    const existing = new Map(found.map((r) => [r.key, r]));
    const dataKey = await this.deps.keyring.activeKey(trx, orgId);
    const a = actorOf(ctx.principal);
    const results: WriteResult[] = [];
    for (const it of items) {
      const row = existing.get(it.key);
      checkVersion(it.key, row, it.ifVersion);
      const live = row !== undefined && row.deleted_at === null;
      if (live && !rollback && constantTimeEqual(await this.#decrypt(trx, row), it.value)) {
        results.push({ key: it.key, version: row.current_version, status: 'unchanged' });
        continue;
      }
      const version = (row?.current_version ?? 0) + 1;
      const id = row?.id ?? newId('sec');
      if (row) {
        const moved = await this.#advanceVersion.executeWrite(trx, orgId, id, row.current_version, version, ctx.now, a.type, a.id);
        if (moved !== 1) throw new ConcurrentWrite();
      } else {
        await store.insertSecret(trx, {
          id,
          org_id: orgId,
          project_id: target.project.id,
          environment_id: target.environment.id,
          key: it.key,
          current_version: version,
          deleted_at: null,
          created_at: ctx.now,
          updated_at: ctx.now,
          updated_by_type: a.type,
          updated_by_id: a.id,
        });
      }
      const sealed = encryptWith(dataKey, address(ctx, target, it.key, version), it.value);
      const versionRow: Database['secret_versions'] = {
        org_id: orgId,
        secret_id: id,
        version,
        action: rollback ? 'rollback' : 'set',
        ciphertext: sealed.ciphertext,
        nonce: sealed.nonce,
        key_version: sealed.keyVersion,
        created_at: ctx.now,
        created_by_type: a.type,
        created_by_id: a.id,
      };
      await this.#insertVersion.execute(trx, ...store.VERSION_COLUMNS.map((c) => versionRow[c]));
      const status: WriteStatus = live ? 'changed' : 'added';
      await this.#audit(trx, ctx, target, rollback ? 'secret.rollback' : 'secret.write', it.key, id, {
        version,
        status,
        ...(rollback ? { fromVersion: rollback.fromVersion } : {}),
      });
      results.push({ key: it.key, version, status });
    }
    return results;
  }

  #decrypt(db: Db, row: SecretRow): Promise<string> {
    return decryptValue(this.deps.keyring, db, addressOf(row), { ciphertext: row.ciphertext, nonce: row.nonce, keyVersion: row.key_version });
  }

  /**
   * Reads referenced secrets for the resolver: same-environment values come from `known`; other
   * environments are checked against the caller's read permission before anything is decrypted.
   */
  #resolver(ctx: RequestContext, target: EnvTarget, known: Map<string, string>, references: Set<string>): ReferenceResolver {
    const { db, projects } = this.deps;
    const envs = new Map<string, { id: string; name: string } | null>([[target.environment.name, target.environment]]);
    const source: ReferenceSource = {
      get: async (envName, key) => {
        if (envName === target.environment.name && known.has(key)) return known.get(key);
        if (!envs.has(envName)) envs.set(envName, (await projects.findEnvironment(ctx.principal.orgId, target.project.id, envName)) ?? null);
        const env = envs.get(envName);
        // An environment the caller may not even see is answered as missing, like everywhere else.
        if (!env || !canSeeEnvironment(ctx.principal, target.project.id, env.id)) return undefined;
        if (!can(ctx.principal, 'secret:read_values', { projectId: target.project.id, environmentId: env.id })) {
          throw new ReferenceError({ kind: 'forbidden', reference: `${envName}.${key}` });
        }
        const row = await this.#findSecret.executeTakeFirst(db, ctx.principal.orgId, env.id, key);
        if (!row || row.deleted_at !== null) return undefined;
        references.add(`${envName}.${key}`);
        return this.#decrypt(db, row);
      },
    };
    return new ReferenceResolver(source);
  }

  /** Recorded before any value leaves: if this write fails, the caller gets an error, not values. */
  #recordRead(ctx: RequestContext, target: EnvTarget, keys: string[], references: Set<string>): Promise<unknown> {
    return this.deps.audit.recordAlone(auditContextOf(ctx), {
      action: 'secret.read',
      target: keys.length === 1 ? { type: 'secret', name: keys[0]! } : { type: 'environment', id: target.environment.id, name: target.environment.name },
      details: { project: target.project.name, environment: target.environment.name, keys, references: [...references] },
    });
  }

  #audit(trx: Db, ctx: RequestContext, target: EnvTarget, action: string, key: string, id: string, extra: Record<string, string | number>) {
    return this.deps.audit.record(trx, auditContextOf(ctx), {
      action,
      target: { type: 'secret', id, name: key },
      details: { project: target.project.name, environment: target.environment.name, ...extra },
    });
  }
}

class ConcurrentWrite extends Error {}

function checkVersion(key: string, row: SecretRow | undefined, ifVersion: number | undefined): void {
  if (ifVersion === undefined) return;
  const current = row && row.deleted_at === null ? row.current_version : 0;
  if (current !== ifVersion) throw new AppError('version_conflict', `${key} is at version ${current}, not ${ifVersion}`, { key, currentVersion: current });
}

function address(ctx: RequestContext, target: EnvTarget, key: string, version: number): VersionAddress {
  return { orgId: ctx.principal.orgId, projectId: target.project.id, environmentId: target.environment.id, key, version };
}

function addressOf(row: SecretRow): VersionAddress {
  return { orgId: row.org_id, projectId: row.project_id, environmentId: row.environment_id, key: row.key, version: row.current_version };
}

/** Turns a resolver failure into the API's error; the message names references, never values. */
async function resolving<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    const f = err.failure;
    switch (f.kind) {
      case 'not_found':
        throw new AppError('reference_not_found', `Reference \${${f.reference}} points to no secret`, { reference: f.reference });
      case 'forbidden':
        throw new AppError('reference_forbidden', `Reference \${${f.reference}} points into an environment you cannot read`, { reference: f.reference });
      case 'cycle':
        throw new AppError('reference_cycle', `References form a cycle: ${f.path.join(' -> ')}`, { path: f.path });
      case 'too_deep':
        throw new AppError('reference_cycle', `References nest too deeply at ${f.reference}`, { reference: f.reference });
      case 'too_large':
        throw new AppError('value_too_large', `The resolved value of ${f.reference} is too large`, { reference: f.reference });
    }
  }
}

function view(r: SecretRow, value?: string): SecretView {
  return {
    key: r.key,
    ...(value !== undefined ? { value } : {}),
    version: r.current_version,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    updatedBy: { type: r.updated_by_type, id: r.updated_by_id, name: r.updated_by_email ?? r.updated_by_token ?? null },
    deletedAt: isoOrNull(r.deleted_at),
  };
}
