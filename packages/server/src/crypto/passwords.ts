import { Algorithm, hash, verify } from '@node-rs/argon2';

/**
 * argon2id at OWASP's first recommended setting (19 MiB, 2 passes, 1 lane). @node-rs/argon2 runs
 * on libuv's thread pool, so hashing never blocks the event loop.
 */
export const PASSWORD_HASH_PARAMS = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** The hard bound on any password the API takes: bounds hashing and policy work per request. */
export const PASSWORD_MAX_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASH_PARAMS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** True when a stored hash was made with weaker parameters than today's, so login can upgrade it. */
export function needsRehash(passwordHash: string): boolean {
  const p = PASSWORD_HASH_PARAMS;
  return !passwordHash.startsWith(`$argon2id$v=19$m=${p.memoryCost},t=${p.timeCost},p=${p.parallelism}$`);
}
