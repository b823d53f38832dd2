import { randomBytes } from 'node:crypto';
import type { Invalidation, InvalidationEvent } from '../cache.js';
import type { Clock } from '../context.js';
import type { Logger } from '../logger.js';
import type { RedisLink } from './redis.js';

/** The one id field each event carries: nothing else crosses the wire. */
const ID_FIELD = {
  'token.revoked': 'tokenId',
  'session.revoked': 'sessionId',
  'session.changed': 'sessionId',
  'user.changed': 'userId',
  'org.changed': 'orgId',
  'project.deleted': 'projectId',
  'environment.deleted': 'environmentId',
  'secrets.changed': 'environmentId',
} as const satisfies Record<InvalidationEvent['type'], string>;

/** Our ids (`ses_…`, `tok_…`, uuids): anything else on the channel is not ours and is dropped. */
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_MESSAGE_CHARS = 512;

/** What goes over Redis: the event's type and id, and which instance sent it. */
interface WireMessage {
  v: 1;
  from: string;
  type: string;
  id: string;
}

/**
 * Carries the in-process invalidation bus (cache.ts) between instances over Redis pub/sub, on one
 * channel per deployment (`<prefix>invalidation`). Invariants:
 * - a message holds an event type, one id and the sending instance's random id: never a token, a
 *   secret, a value or a name (ids reveal nothing without the database);
 * - an instance ignores its own echo (its listeners heard the event when it was published);
 * - what arrives is checked field by field and rebuilt; anything malformed is dropped. A forged
 *   message can only make caches drop entries (they are re-read from the database): it can never
 *   grant anything, since every decision is made on database rows;
 * - publishing is fire-and-forget after the change committed: a message lost while Redis is away
 *   is bounded by the caches' TTL (HOT_CACHE_TTL_MS, and the value cache capped to it meanwhile).
 */
export class ClusterBus {
  /** Random per process: a restarted instance is a new sender. */
  readonly instanceId = randomBytes(12).toString('base64url');
  readonly channel: string;

  constructor(private readonly deps: { link: RedisLink; invalidation: Invalidation; prefix: string; clock: Clock; log: Logger }) {
    this.channel = `${deps.prefix}invalidation`;
  }

  /** Subscribes (waiting for it when Redis is up) and starts relaying this instance's events. */
  async start(): Promise<void> {
    const { link, invalidation, clock } = this.deps;
    invalidation.setSharedSince(link.state === 'up' ? clock() : null);
    link.onChange((state) => invalidation.setSharedSince(state === 'up' ? clock() : null));
    link.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      const event = this.#parse(text);
      if (event) invalidation.receive(event);
    });
    invalidation.relay((event) => this.#send(event));
    // Now when Redis is up, and renewed by the link after every reconnect.
    await link.subscribe(this.channel);
  }

  #send(event: InvalidationEvent): void {
    const field = ID_FIELD[event.type];
    const message: WireMessage = { v: 1, from: this.instanceId, type: event.type, id: (event as Record<string, string>)[field]! };
    this.deps.link.commands.publish(this.channel, JSON.stringify(message)).catch(() => {
      // Redis is away (the link logs that once): the other instances' caches expire within their TTL.
    });
  }

  #parse(text: string): InvalidationEvent | null {
    if (text.length > MAX_MESSAGE_CHARS) return null;
    let m: Partial<WireMessage>;
    try {
      m = JSON.parse(text) as Partial<WireMessage>;
    } catch {
      return null;
    }
    if (typeof m !== 'object' || m === null || m.v !== 1 || typeof m.from !== 'string' || m.from === this.instanceId) return null;
    if (typeof m.type !== 'string' || !Object.hasOwn(ID_FIELD, m.type) || typeof m.id !== 'string' || !ID.test(m.id)) return null;
    const type = m.type as InvalidationEvent['type'];
    return { type, [ID_FIELD[type]]: m.id } as InvalidationEvent;
  }
}
