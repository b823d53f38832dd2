import { SignJWT, decodeProtectedHeader, jwtVerify } from 'jose';
import { TtlCache } from '../cache.js';
import { newId } from '../crypto/random.js';
import type { SigningKeys } from './signing-keys.js';

/** RFC 9068: the media type of a JWT access token, so an ID token or other JWT is never taken for one. */
const ACCESS_TOKEN_TYP = 'at+jwt';
const ACCESS_TOKEN_AUDIENCE = 'keynest:api';
/** Verified tokens kept in memory: enough for every live session of a busy instance. */
const VERIFIED_CACHE_MAX_ENTRIES = 50_000;
/** Far past any real token; bounds the work an attacker's junk costs before it is refused. */
const MAX_TOKEN_LENGTH = 4096;

export interface AccessTokenPolicy {
  issuer: string;
  ttlMs: number;
  skewMs: number;
}

/** What a verified access token says. Who it belongs to is then read from its session. */
interface AccessClaims {
  sessionId: string;
  userId: string;
  orgId: string;
  expiresAt: number;
}

/**
 * Short-lived signed access tokens (JWT: iss, aud, sub, org, sid, jti, iat, exp). Invariants:
 * - verification checks signature, algorithm (the key's own), typ, issuer, audience, expiry and
 *   issue time, and requires jti and sid; any failure answers null, never an exception;
 * - a token is verified by signature once, then recognised from memory until it expires, so the
 *   hot path pays no asymmetric operation; the cache holds only tokens that verified;
 * - a token never outlives its session: revocation is the session's (checked on every request by
 *   SessionService from its in-memory row, dropped from memory the moment a revocation commits).
 */
export class AccessTokens {
  readonly #verified: TtlCache<string, AccessClaims>;

  constructor(private readonly deps: { keys: SigningKeys; policy: AccessTokenPolicy }) {
    this.#verified = new TtlCache(deps.policy.ttlMs + deps.policy.skewMs, VERIFIED_CACHE_MAX_ENTRIES);
  }

  /** A new access token for a session, expiring at the session's end if that comes first. */
  async issue(who: { sessionId: string; userId: string; orgId: string; sessionExpiresAt: number }, now: number): Promise<{ token: string; expiresAt: number }> {
    const key = this.deps.keys.current(now);
    // Whole seconds, as JWT times are: the token must not claim to live past the session.
    const exp = Math.floor(Math.min(now + this.deps.policy.ttlMs, who.sessionExpiresAt) / 1000);
    const token = await new SignJWT({ org: who.orgId, sid: who.sessionId })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.deps.policy.issuer)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setSubject(who.userId)
      .setJti(newId('jti'))
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(exp)
      .sign(key.privateKey());
    return { token, expiresAt: exp * 1000 };
  }

  /** The claims of a valid, unexpired access token; null for anything else. */
  async verify(token: string, now: number): Promise<AccessClaims | null> {
    const cached = this.#verified.get(token, now);
    // The same tolerance as the signature check allows, so the answer does not depend on the cache.
    if (cached) return cached.expiresAt + this.deps.policy.skewMs > now ? cached : null;
    if (token.length > MAX_TOKEN_LENGTH) return null;
    const epoch = this.#verified.epoch;
    const claims = await this.#verifySignature(token, now);
    if (claims) this.#verified.set(token, claims, now, epoch);
    return claims;
  }

  async #verifySignature(token: string, now: number): Promise<AccessClaims | null> {
    const { policy } = this.deps;
    try {
      const header = decodeProtectedHeader(token);
      if (typeof header.kid !== 'string') return null;
      const key = await this.deps.keys.find(header.kid, now);
      if (!key || header.alg !== key.alg) return null;
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [key.alg],
        typ: ACCESS_TOKEN_TYP,
        issuer: policy.issuer,
        audience: ACCESS_TOKEN_AUDIENCE,
        currentDate: new Date(now),
        clockTolerance: Math.floor(policy.skewMs / 1000),
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'sid', 'org'],
        // A token is never older than its lifetime: bounds what a stolen signing key's output is worth.
        maxTokenAge: Math.ceil(policy.ttlMs / 1000),
      });
      const iat = (payload.iat ?? 0) * 1000;
      // jose accepts any past iat; a token "issued" in the future is forged or from a broken clock.
      if (iat > now + policy.skewMs) return null;
      if (typeof payload.sid !== 'string' || typeof payload.org !== 'string' || typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return null;
      return { sessionId: payload.sid, userId: payload.sub, orgId: payload.org, expiresAt: payload.exp * 1000 };
    } catch {
      // Malformed, badly signed, expired, wrong issuer or audience: all are simply not a credential.
      return null;
    }
  }
}

/** Whether a bearer credential looks like a JWT (three base64url parts), before any verification. */
export function looksLikeJwt(token: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}
