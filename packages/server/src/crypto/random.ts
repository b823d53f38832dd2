import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 bits: far past guessing, and the Copenhagen Book's floor of 120. */
const TOKEN_BYTES = 32;
const ID_BYTES = 12;

/**
 * Bearer tokens carry their kind in a prefix (`kn_api_…`, `kn_ref_…`) so secret scanners and
 * humans can recognise a leaked one. The server stores only `tokenDigest(token)`.
 */
export type TokenKind = 'api' | 'ref' | 'setup' | 'rst' | 'vfy' | 'sgn' | 'inv' | 'eac' | 'whs';

export function newToken(kind: TokenKind): string {
  return `kn_${kind}_${randomBytes(TOKEN_BYTES).toString('base64url')}`;
}

export function tokenKind(token: string): TokenKind | null {
  const m = /^kn_(api|ref|setup|rst|vfy|sgn|inv|eac|whs)_[A-Za-z0-9_-]{43}$/.exec(token);
  return m ? (m[1] as TokenKind) : null;
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Equal-time comparison of two strings (digests, codes). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  // Compare against itself when lengths differ so the time does not depend on where they differ.
  if (ba.length !== bb.length) {
    timingSafeEqual(ba, ba);
    return false;
  }
  return timingSafeEqual(ba, bb);
}

/** Opaque, unguessable row ids with a readable kind prefix (`prj_…`, `env_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(ID_BYTES).toString('base64url')}`;
}
