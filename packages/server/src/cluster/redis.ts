import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

export type LinkState = 'up' | 'down';

/** How long a start waits for Redis before serving without it (it keeps trying afterwards). */
export const REDIS_FIRST_CONNECT_WAIT_MS = 2000;
/** A command that takes longer fails, so a hung Redis slows no request by more than this. */
const REDIS_COMMAND_TIMEOUT_MS = 500;
const REDIS_CONNECT_TIMEOUT_MS = 2000;
/** Reconnect attempts back off to this (ms) and keep going for as long as the process lives. */
const REDIS_RETRY_MAX_MS = 1000;

/**
 * The instance's two connections to Redis: one for commands (rate-limit counters, publishing) and
 * one in subscriber mode (a connection that subscribed can run nothing else). Invariants:
 * - `state` is 'up' only while both are ready; every change of it is logged once (warn when
 *   Redis goes, info when it is back), never once per request or per reconnect attempt;
 * - commands never wait for a connection (no offline queue): while Redis is away they fail at once
 *   and their callers fall back to what this instance alone knows (cluster/limiter-store.ts);
 * - ioredis reconnects for as long as the process lives; the link renews its subscriptions after
 *   each reconnect itself (ioredis's own resubscription leaves a rejected promise unhandled when
 *   the connection drops again meanwhile);
 * - the URL (which may hold a password) is never logged: errors are logged by their code only.
 */
export class RedisLink {
  readonly commands: Redis;
  readonly subscriber: Redis;
  #state: LinkState = 'down';
  /** The state last logged; null before the first connection attempt settled. */
  #announced: LinkState | null = null;
  #closing = false;
  #lastErrorCode: string | undefined;
  readonly #watchers: ((state: LinkState) => void)[] = [];
  readonly #channels = new Set<string>();

  private constructor(
    url: string,
    private readonly log: Logger,
  ) {
    const common: RedisOptions = {
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 100, REDIS_RETRY_MAX_MS),
      connectionName: 'keynest',
    };
    this.commands = new Redis(url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
    // Its only commands are SUBSCRIBEs, sent whenever it is (again) ready.
    this.subscriber = new Redis(url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResubscribe: false });
    this.subscriber.on('ready', () => {
      for (const channel of this.#channels) void this.#subscribe(channel);
    });
    for (const client of [this.commands, this.subscriber]) {
      client.on('ready', () => this.#update());
      client.on('close', () => this.#update());
      client.on('end', () => this.#update());
      // Without a listener ioredis prints every failed attempt to stderr.
      client.on('error', (err: Error & { code?: string }) => {
        this.#lastErrorCode = err.code ?? err.name;
        this.log.debug({ code: this.#lastErrorCode }, 'redis connection error');
      });
    }
  }

  /**
   * Connects, waiting at most `waitMs` for the first connection: a start does not fail because
   * Redis is away (the instance serves alone and the link keeps trying).
   */
  static async connect(url: string, log: Logger, waitMs = REDIS_FIRST_CONNECT_WAIT_MS): Promise<RedisLink> {
    const link = new RedisLink(url, log);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      link.onChange((s) => {
        if (s === 'up') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    if (link.#announced === null) link.#announce();
    return link;
  }

  /**
   * Subscribes the subscriber connection to `channel` now if it is ready, and after every
   * reconnect; resolves once subscribed (or at once while Redis is away). Messages arrive as the
   * subscriber's 'message' events.
   */
  async subscribe(channel: string): Promise<void> {
    this.#channels.add(channel);
    if (this.subscriber.status === 'ready') await this.#subscribe(channel);
  }

  async #subscribe(channel: string): Promise<void> {
    try {
      await this.subscriber.subscribe(channel);
    } catch (err) {
      // The connection dropped meanwhile: the next 'ready' subscribes again.
      this.log.debug({ code: (err as Error & { code?: string }).code ?? (err as Error).name }, 'redis subscribe failed');
    }
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Called on every change of `state` (not on every reconnect attempt). */
  onChange(watcher: (state: LinkState) => void): void {
    this.#watchers.push(watcher);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      [this.commands, this.subscriber].map(async (client) => {
        try {
          if (client.status === 'ready') await client.quit();
        } catch {
          /* closing anyway */
        }
        client.disconnect();
      }),
    );
  }

  #update(): void {
    if (this.#closing) return;
    const next: LinkState = this.commands.status === 'ready' && this.subscriber.status === 'ready' ? 'up' : 'down';
    if (next === this.#state) return;
    this.#state = next;
    // A link that never came up is announced once its first wait is over (`connect`).
    if (next === 'up' || this.#announced !== null) this.#announce();
    for (const w of this.#watchers) w(next);
  }

  #announce(): void {
    const state = this.#state;
    if (state === this.#announced) return;
    const first = this.#announced === null;
    this.#announced = state;
    if (state === 'up') {
      this.log.info(first ? 'connected to Redis: rate limits and cache invalidation are shared with the other instances' : 'Redis is reachable again: rate limits and cache invalidation are shared with the other instances again');
    } else {
      this.log.warn(
        { reason: this.#lastErrorCode ?? 'unknown' },
        'Redis is unreachable: serving with this instance\'s own rate limits and cache invalidation only (other instances learn of changes made here within the caches\' 1 s TTL); /readyz says "degraded"',
      );
    }
  }
}
