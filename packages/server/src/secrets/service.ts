import { can, canSeeEnvironment, stepUpRequired, type StepUpPolicy } from '../access/policy.js';
import type { OrgQuotas } from '../orgs/quotas.js';
import { actorOf } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import { auditContextOf, iso, isoOrNull, type RequestContext } from '../context.js';
import { constantTimeEqual, newId } from '../crypto/random.js';
import type { Keyring } from '../crypto/keyring.js';
import { AppError, notFound, reauthRequired } from '../errors.js';
import type { ProjectService, Target } from '../projects/service.js';
import { isUniqueViolation } from '../storage/dialect.js';
import { PreparedQuery } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';
import type { Db } from '../storage/database.js';
import type { GroupCommit } from '../storage/group-commit.js';
import type { Invalidation } from '../cache.js';
import { decryptValue, encryptWith, type VersionAddress } from './cipher.js';
import { ReferenceResolver, ReferenceError, hasReferences, type ReferenceSource } from './references.js';
import { assertSecretKey, assertSecretValue } from './rules.js';
import * as store from './store.js';
import type { SecretRow } from './store.js';
import { SecretValueCache } from './value-cache.js';

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

/** A live secret with its raw value, frozen: cached answers are shared between requests. */
type Live = Readonly<SecretView & { value: string }>;
/** Where a secret lives, as the value cache is keyed. */
interface EnvWhere {
  projectId: string;
  environmentId: string;
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

  readonly #values: SecretValueCache<Live>;

  constructor(
    private readonly deps: {
      db: Db;
      /** Every write transaction (on SQLite, writes arriving together share a commit). */
      commits: GroupCommit;
      keyring: Keyring;
      audit: AuditService;
      projects: ProjectService;
      invalidation: Invalidation;
      quotas: Pick<OrgQuotas, 'assertRoom'>;
      /** Values reached through a reference need the same recent sign-in as a direct read. */
      stepUp: StepUpPolicy;
      valueCache: { ttlMs: number; maxBytes: number };
    },
  ) {
    this.#values = new SecretValueCache(deps.valueCache, deps.invalidation);
  }

  /** `purpose`: what the client reads the values for (`run`, `export:dotenv`, …), kept in the audit record. */
  async list(ctx: RequestContext, target: EnvTarget, opts: { values: boolean; raw: boolean; includeDeleted: boolean; purpose?: ReadPurpose }): Promise<readonly Readonly<SecretView>[]> {
    const { db } = this.deps;
    if (!opts.values || opts.includeDeleted) {
      const rows = opts.includeDeleted
        ? await store.listSecrets(db, ctx.principal.orgId, target.environment.id, true)
        : await this.#listLive.execute(db, ctx.principal.orgId, target.environment.id);
      if (!opts.values) return rows.map((r) => view(r));
      const live: Live[] = [];
      for (const r of rows) if (r.deleted_at === null) live.push(await this.#live(db, r));
      const answered = new Map((await this.#answer(ctx, target, live, opts.raw, opts.purpose)).map((s) => [s.key, s]));
      return rows.map((r) => answered.get(r.key) ?? view(r));
    }
    return this.#answer(ctx, target, await this.#allLive(ctx, target), opts.raw, opts.purpose);
  }

  /**
   * Frozen, and while it stays cached the very same object for every caller (unless it holds
   * references to resolve): the routes memoize its serialization by identity.
   */
  async get(ctx: RequestContext, target: EnvTarget, key: string, opts: { raw: boolean }): Promise<Readonly<SecretView>> {
    assertSecretKey(key);
    const found = await this.#oneLive(ctx, whereOf(target), key);
    if (!found) throw notFound('secret');
    const [answer] = await this.#answer(ctx, target, [found], opts.raw);
    return answer!;
  }

  /**
   * The secrets to answer with, references resolved unless `raw` (the given array itself when
   * nothing needs resolving), recorded in the audit log before they are returned: if the record
   * cannot be written, the caller gets an error instead.
   */
  async #answer(ctx: RequestContext, target: EnvTarget, secrets: readonly Live[], raw: boolean, purpose?: ReadPurpose): Promise<readonly Live[]> {
    const references = new Set<string>();
    let answer = secrets;
    if (!raw && secrets.some((s) => hasReferences(s.value))) {
      const resolver = this.#resolver(ctx, target, new Map(secrets.map((s) => [s.key, s.value])), references);
      answer = await resolving(async () => {
        const resolved: Live[] = [];
        for (const s of secrets) resolved.push(hasReferences(s.value) ? { ...s, value: await resolver.resolve(target.environment.name, s.key, s.value) } : s);
        return resolved;
      });
    }
    await this.#recordRead(ctx, target, secrets.map((s) => s.key), references, purpose);
    return answer;
  }

  /** One live secret through the value cache; null when there is none. */
  async #oneLive(ctx: RequestContext, where: EnvWhere, key: string): Promise<Live | null> {
    const cached = this.#values.getOne(where.environmentId, key, ctx.now);
    if (cached !== undefined) return cached;
    const epoch = this.#values.epoch;
    const { db } = this.deps;
    const row = await this.#findSecret.executeTakeFirst(db, ctx.principal.orgId, where.environmentId, key);
    const found = row && row.deleted_at === null ? await this.#live(db, row) : null;
    this.#values.putOne(where, key, found, ctx.now, epoch);
    return found;
  }

  /** Every live secret of the environment, by key, through the value cache. */
  async #allLive(ctx: RequestContext, target: EnvTarget): Promise<readonly Live[]> {
    const where = whereOf(target);
    const cached = this.#values.getAll(where.environmentId, ctx.now);
    if (cached) return cached;
    const epoch = this.#values.epoch;
    const { db } = this.deps;
    const rows = await this.#listLive.execute(db, ctx.principal.orgId, where.environmentId);
    const live: Live[] = [];
    for (const r of rows) live.push(await this.#live(db, r));
    return this.#values.putAll(where, live, ctx.now, epoch);
  }

  async #live(db: Db, row: SecretRow): Promise<Live> {
    const meta = view(row);
    Object.freeze(meta.updatedBy);
    return Object.freeze({ ...meta, value: await this.#decrypt(db, row) });
  }

  async set(ctx: RequestContext, target: EnvTarget, items: SecretWrite[]): Promise<WriteResult[]> {
    const seen = new Set<string>();
    for (const it of items) {
      assertSecretKey(it.key);
      assertSecretValue(it.key, it.value);
      if (seen.has(it.key)) throw new AppError('validation_failed', `Key ${it.key} appears more than once in one write`);
      seen.add(it.key);
    }
    return this.#changing(target, this.#inWriteTransaction(items.some((it) => it.ifVersion !== undefined), (trx) => this.#writeAll(trx, ctx, target, items)));
  }

  /**
   * Runs after a write transaction settles (committed or not): the environment's cached values are
   * dropped before the write answers, so the writer's next read sees its own write.
   */
  async #changing<T>(target: EnvTarget, write: Promise<T>): Promise<T> {
    try {
      return await write;
    } finally {
      this.deps.invalidation.publish({ type: 'secrets.changed', environmentId: target.environment.id });
    }
  }

  /** One write transaction; a blind write that lost a race to another writer is tried again. */
  async #inWriteTransaction<T>(conditional: boolean, work: (trx: Db) => Promise<T>): Promise<T> {
    const attempts = conditional ? 1 : WRITE_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.deps.commits.run(work);
      } catch (err) {
        const lostRace = err instanceof ConcurrentWrite || isUniqueViolation(err);
        if (!lostRace) throw err;
        if (attempt >= attempts) throw new AppError('version_conflict', 'The secret was changed by another writer; read it again and retry');
      }
    }
  }

  async delete(ctx: RequestContext, target: EnvTarget, key: string, ifVersion: number | undefined): Promise<void> {
    assertSecretKey(key);
    await this.#changing(target, this.deps.commits.run(async (trx) => {
      const row = await store.findSecret(trx, ctx.principal.orgId, target.environment.id, key);
      if (!row || row.deleted_at !== null) throw notFound('secret');
      checkVersion(key, row, ifVersion);
      const a = actorOf(ctx.principal);
      const ok = await store.setDeleted(trx, { orgId: ctx.principal.orgId, id: row.id, version: row.current_version, deletedAt: ctx.now, now: ctx.now, actorType: a.type, actorId: a.id });
      if (!ok) throw new AppError('version_conflict', `${key} was changed by another writer`);
      await this.#audit(trx, ctx, target, 'secret.delete', key, row.id, { version: row.current_version });
    }));
  }

  async restore(ctx: RequestContext, target: EnvTarget, key: string): Promise<WriteResult> {
    assertSecretKey(key);
    return this.#changing(target, this.deps.commits.run(async (trx) => {
      const row = await store.findSecret(trx, ctx.principal.orgId, target.environment.id, key);
      if (!row) throw notFound('secret');
      if (row.deleted_at === null) throw new AppError('secret_not_deleted', `${key} is not deleted`);
      await this.deps.quotas.assertRoom(trx, ctx.principal.orgId, 'secrets', 1, ctx.now);
      const a = actorOf(ctx.principal);
      const ok = await store.setDeleted(trx, { orgId: ctx.principal.orgId, id: row.id, version: row.current_version, deletedAt: null, now: ctx.now, actorType: a.type, actorId: a.id });
      if (!ok) throw new AppError('version_conflict', `${key} was changed by another writer`);
      await this.#audit(trx, ctx, target, 'secret.restore', key, row.id, { version: row.current_version });
      return { key, version: row.current_version, status: 'restored' as const };
    }));
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
    return this.#changing(target, this.#inWriteTransaction(ifVersion !== undefined, async (trx) => {
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
    }));
  }

  async #writeAll(trx: Db, ctx: RequestContext, target: EnvTarget, items: SecretWrite[], rollback?: { action: 'rollback'; fromVersion: number }): Promise<WriteResult[]> {
    const orgId = ctx.principal.orgId;
    const found =
      items.length === 1
        ? await this.#findSecret.execute(trx, orgId, target.environment.id, items[0]!.key)
        : await store.findSecretsByKeys(trx, orgId, target.environment.id, items.map((i) => i.key));
    const existing = new Map(found.map((r) => [r.key, r]));
    // Keys that become live count against the plan's secrets (403 quota_exceeded), before any is written.
    const adding = items.filter((it) => existing.get(it.key)?.deleted_at !== null).length;
    await this.deps.quotas.assertRoom(trx, orgId, 'secrets', adding, ctx.now);
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
    const { projects } = this.deps;
    const envs = new Map<string, { id: string; name: string } | null>([[target.environment.name, target.environment]]);
    const source: ReferenceSource = {
      get: async (envName, key) => {
        if (envName === target.environment.name && known.has(key)) return known.get(key);
        if (!envs.has(envName)) envs.set(envName, (await projects.findEnvironment(ctx.principal.orgId, target.project.id, envName)) ?? null);
        const env = envs.get(envName);
        // An environment the caller may not even see is answered as missing, like everywhere else.
        if (!env || !canSeeEnvironment(ctx.principal, target.project.id, env)) return undefined;
        if (!can(ctx.principal, 'secret:read_values', { projectId: target.project.id, environment: env })) {
          throw new ReferenceError({ kind: 'forbidden', reference: `${envName}.${key}` });
        }
        if (stepUpRequired(ctx.principal, 'protected-environment', env.name, this.deps.stepUp, ctx.now)) throw reauthRequired();
        const found = await this.#oneLive(ctx, { projectId: target.project.id, environmentId: env.id }, key);
        if (!found) return undefined;
        references.add(`${envName}.${key}`);
        return found.value;
      },
    };
    return new ReferenceResolver(source);
  }

  /** Recorded before any value leaves: if this write fails, the caller gets an error, not values. */
  #recordRead(ctx: RequestContext, target: EnvTarget, keys: string[], references: Set<string>, purpose?: ReadPurpose): Promise<unknown> {
    return this.deps.audit.recordAlone(auditContextOf(ctx), {
      action: 'secret.read',
      target: keys.length === 1 ? { type: 'secret', name: keys[0]! } : { type: 'environment', id: target.environment.id, name: target.environment.name },
      project: target.project.name,
      environment: target.environment.name,
      details: { project: target.project.name, environment: target.environment.name, keys, references: [...references], ...(purpose ? { purpose } : {}) },
    });
  }

  #audit(trx: Db, ctx: RequestContext, target: EnvTarget, action: string, key: string, id: string, extra: Record<string, string | number>) {
    return this.deps.audit.record(trx, auditContextOf(ctx), {
      action,
      target: { type: 'secret', id, name: key },
      project: target.project.name,
      environment: target.environment.name,
      details: { project: target.project.name, environment: target.environment.name, ...extra },
    });
  }
}

/** What a client says it reads values for: `keynest run`, or `keynest export` in a format. */
export const READ_PURPOSES = ['run', 'export:dotenv', 'export:json', 'export:yaml', 'export:shell', 'export:docker', 'export:k8s'] as const;
export type ReadPurpose = (typeof READ_PURPOSES)[number];

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

function whereOf(target: EnvTarget): EnvWhere {
  return { projectId: target.project.id, environmentId: target.environment.id };
}

function view(r: SecretRow): SecretView {
  return {
    key: r.key,
    version: r.current_version,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    updatedBy: { type: r.updated_by_type, id: r.updated_by_id, name: r.updated_by_email ?? r.updated_by_token ?? null },
    deletedAt: isoOrNull(r.deleted_at),
  };
}
