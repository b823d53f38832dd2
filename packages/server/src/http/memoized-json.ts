import type { FastifyReply } from 'fastify';

/**
 * Serializes answers that many requests share (cached secrets) once. The route's own response
 * serializer (its 200 schema) makes the body, so the bytes are exactly what Fastify would send;
 * later answers built on the same frozen object reuse them. Only frozen objects are memoized: a
 * frozen answer cannot change after its body was made. The memo holds a body only as long as its
 * object lives (a WeakMap), so nothing outlives the cache entry it came from.
 */
export class MemoizedJson {
  readonly #bodies = new WeakMap<object, string>();

  /** The body for `payload`, memoized under `identity` (the shared object the payload is built from). */
  body(reply: FastifyReply, identity: object, payload: Record<string, unknown>): string {
    reply.type('application/json; charset=utf-8');
    const memo = Object.isFrozen(identity) ? this.#bodies.get(identity) : undefined;
    if (memo !== undefined) return memo;
    const serialize = reply.getSerializationFunction('200');
    if (!serialize) throw new Error(`route ${reply.request.url} has no 200 response schema to serialize with`);
    const body = serialize(payload);
    if (Object.isFrozen(identity)) this.#bodies.set(identity, body);
    return body;
  }
}
