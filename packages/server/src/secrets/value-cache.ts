import { HOT_CACHE_TTL_MS, type Invalidation } from '../cache.js';

/** What is cached per secret: at least its key and raw (unresolved) value. */
export interface CachedSecret {
  readonly key: string;
  readonly value: string;
}

interface EnvEntry<V extends CachedSecret> {
  projectId: string;
  at: number;
  bytes: number;
  /** Keys read one by one; `null` marks a key known to have no live secret. */
  items: Map<string, V | null>;
  /** Every live secret of the environment, by key order, once a list read loaded them. */
  all: readonly V[] | undefined;
}

/** Per-entry overhead counted against the byte budget besides the key and value themselves. */
const ITEM_OVERHEAD_BYTES = 256;

/**
 * Decrypted secret values of recently read environments, so that a read answers without a
 * database query and an AES-GCM decryption per value (the hot path of `keynest run` and of every
 * secret GET). What it does not change: every read is still authorized first (the access hook runs
 * before the service) and recorded in the audit log before the value leaves.
 *
 * Why holding plaintext is acceptable: the process already holds the org data keys, so a reader of
 * its memory gets every value with or without this cache; what the cache changes is how long a
 * read value stays in the heap, which it bounds by `ttlMs` (default 1 s) and `maxBytes`.
 * `ttlMs = 0` turns it off for deployments that prefer decrypting on every read.
 *
 * Freshness: a write drops its environment's entry after its transaction commits and before it
 * answers (`secrets.changed` on the invalidation bus, which a cluster's Redis carries to the other
 * instances; while Redis is unreachable the TTL, capped at HOT_CACHE_TTL_MS, bounds how long another
 * instance's write can go unseen). A value loaded while
 * an invalidation happened is not stored (`epoch`), so a read that raced a write can answer the
 * old value once but never keeps it.
 */
export class SecretValueCache<V extends CachedSecret> {
  readonly #envs = new Map<string, EnvEntry<V>>();
  #bytes = 0;
  #epoch = 0;

  constructor(
    private readonly opts: { ttlMs: number; maxBytes: number },
    private readonly invalidation: Invalidation,
  ) {
    invalidation.subscribe((e) => {
      if (e.type === 'secrets.changed' || e.type === 'environment.deleted') this.#drop(e.environmentId);
      else if (e.type === 'project.deleted') {
        this.#epoch++;
        for (const [envId, entry] of this.#envs) if (entry.projectId === e.projectId) this.#delete(envId, entry);
      }
    });
  }

  get enabled(): boolean {
    return this.opts.ttlMs > 0;
  }

  /** Read before loading from the database; pass to `put*` (see the class comment). */
  get epoch(): number {
    return this.#epoch;
  }

  /** The cached secret (`null`: known absent), or `undefined` when it must be loaded. */
  getOne(environmentId: string, key: string, now: number): V | null | undefined {
    const entry = this.#live(environmentId, now);
    if (!entry) return undefined;
    const item = entry.items.get(key);
    if (item !== undefined) return item;
    // A loaded list holds every live key: one it lacks is absent.
    return entry.all ? null : undefined;
  }

  /** The same (frozen) array for every caller until the entry goes, so answers built from it can be memoized by identity. */
  getAll(environmentId: string, now: number): readonly V[] | undefined {
    return this.#live(environmentId, now)?.all;
  }

  putOne(where: { projectId: string; environmentId: string }, key: string, item: V | null, now: number, epoch: number): void {
    const size = key.length + (item ? item.value.length * 2 : 0) + ITEM_OVERHEAD_BYTES;
    const entry = this.#entryFor(where, now, epoch, size);
    if (!entry) return;
    entry.items.set(key, item);
  }

  /** Caches every live secret of an environment; returns the array to answer with. */
  putAll(where: { projectId: string; environmentId: string }, items: V[], now: number, epoch: number): readonly V[] {
    const all = Object.freeze(items);
    let size = 0;
    for (const item of items) size += item.key.length + item.value.length * 2 + ITEM_OVERHEAD_BYTES;
    const entry = this.#entryFor(where, now, epoch, size);
    if (!entry) return all;
    entry.all = all;
    for (const item of items) entry.items.set(item.key, item);
    return all;
  }

  #entryFor(where: { projectId: string; environmentId: string }, now: number, epoch: number, size: number): EnvEntry<V> | undefined {
    if (!this.enabled || epoch !== this.#epoch || size > this.opts.maxBytes) return undefined;
    // Crude but bounded, like TtlCache: a full cache starts over rather than tracking recency.
    if (this.#bytes + size > this.opts.maxBytes) this.#clear();
    let entry = this.#live(where.environmentId, now);
    if (!entry) {
      entry = { projectId: where.projectId, at: now, bytes: 0, items: new Map(), all: undefined };
      this.#envs.set(where.environmentId, entry);
    }
    entry.bytes += size;
    this.#bytes += size;
    return entry;
  }

  #live(environmentId: string, now: number): EnvEntry<V> | undefined {
    const entry = this.#envs.get(environmentId);
    if (!entry) return undefined;
    if (now - entry.at >= this.#ttlOf(entry) || now < entry.at) {
      this.#delete(environmentId, entry);
      return undefined;
    }
    return entry;
  }

  /**
   * A cluster whose Redis is (or was, when the entry was loaded) unreachable may have missed another
   * instance's write: such entries live no longer than the hot caches' short TTL (docs/cluster.md).
   */
  #ttlOf(entry: EnvEntry<V>): number {
    const since = this.invalidation.sharedSince;
    return since !== null && entry.at >= since ? this.opts.ttlMs : Math.min(this.opts.ttlMs, HOT_CACHE_TTL_MS);
  }

  #drop(environmentId: string): void {
    this.#epoch++;
    const entry = this.#envs.get(environmentId);
    if (entry) this.#delete(environmentId, entry);
  }

  #delete(environmentId: string, entry: EnvEntry<V>): void {
    this.#envs.delete(environmentId);
    this.#bytes -= entry.bytes;
  }

  #clear(): void {
    this.#envs.clear();
    this.#bytes = 0;
  }
}
