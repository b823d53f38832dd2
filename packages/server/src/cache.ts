/**
 * A small time-bounded map for facts the hot path would otherwise re-read from the database on
 * every request (who a token belongs to, what a project name points at). Entries live at most
 * `ttlMs` by the injected clock, and are dropped at once when an `Invalidation` event says they
 * changed; the TTL bounds how long another instance's change can go unseen.
 */
export class TtlCache<K, V> {
  readonly #entries = new Map<K, { value: V; at: number }>();
  #epoch = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: K, now: number): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (now - e.at >= this.ttlMs || now < e.at) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /**
   * Changes on every invalidation. Read it before querying the database and pass it to `set`: a
   * row read before a revocation committed must not be cached after the revocation was announced.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** Stores the value unless an invalidation happened since `epoch` was read. */
  set(key: K, value: V, now: number, epoch: number): void {
    if (epoch !== this.#epoch) return;
    // Crude but bounded: a full cache starts over rather than tracking recency on every hit.
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    this.#entries.set(key, { value, at: now });
  }

  deleteWhere(match: (value: V) => boolean): void {
    this.#epoch++;
    for (const [k, e] of this.#entries) if (match(e.value)) this.#entries.delete(k);
  }

  clear(): void {
    this.#epoch++;
    this.#entries.clear();
  }
}

/** How long an instance may keep trusting a cached credential or name lookup. */
export const HOT_CACHE_TTL_MS = 1000;
export const HOT_CACHE_MAX_ENTRIES = 10_000;

export type InvalidationEvent =
  | { type: 'token.revoked'; tokenId: string }
  | { type: 'session.revoked'; sessionId: string }
  | { type: 'session.changed'; sessionId: string }
  | { type: 'user.changed'; userId: string }
  | { type: 'org.changed'; orgId: string }
  | { type: 'project.deleted'; projectId: string }
  | { type: 'environment.deleted'; environmentId: string }
  | { type: 'secrets.changed'; environmentId: string };

/**
 * Tells every cache that something it may hold changed. In a cluster (`KEYNEST_REDIS_URL`),
 * cluster/bus.ts relays what this instance publishes to the others over Redis pub/sub and hands
 * what they publish to `receive`; alone, events stay in process (there is no one else to tell).
 */
export class Invalidation {
  readonly #listeners: ((e: InvalidationEvent) => void)[] = [];
  readonly #relays: ((e: InvalidationEvent) => void)[] = [];
  #sharedSince: number | null = 0;

  subscribe(listener: (e: InvalidationEvent) => void): void {
    this.#listeners.push(listener);
  }

  /** Carries what this instance publishes to the other instances; what they publish is not relayed back. */
  relay(forward: (e: InvalidationEvent) => void): void {
    this.#relays.push(forward);
  }

  publish(event: InvalidationEvent): void {
    for (const l of this.#listeners) l(event);
    for (const r of this.#relays) r(event);
  }

  /** An event another instance published. */
  receive(event: InvalidationEvent): void {
    for (const l of this.#listeners) l(event);
  }

  /**
   * Since when (by the clock) every instance hears every other's events; null while they do not (a
   * cluster whose Redis is unreachable). Caches that keep entries longer than HOT_CACHE_TTL_MS keep
   * an entry that long only if it was loaded since then: events missed meanwhile are bounded by
   * the short TTL instead.
   */
  get sharedSince(): number | null {
    return this.#sharedSince;
  }

  setSharedSince(since: number | null): void {
    this.#sharedSince = since;
  }
}
