import { runsTheOrg } from '../access/policy.js';
import { signedInUser, type UserPrincipal } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import { auditContextOf, iso, type AnonymousContext, type RequestContext } from '../context.js';
import { constantTimeEqual, newId, newToken, tokenDigest, tokenKind } from '../crypto/random.js';
import { AppError, notFound } from '../errors.js';
import type { OrgService } from '../orgs/service.js';
import type { MemberAccessLoader } from '../roles/access-loader.js';
import type { Db } from '../storage/database.js';
import type { GeoIp } from '../geo/geoip.js';
import { parseStoredLocation, storedLocation, type GeoLocation } from '../geo/location.js';
import type { AccessTokens } from './access-tokens.js';
import * as store from './store.js';
import { parseUserAgent, type Device } from './user-agent.js';

/** Writing last_active_at on every request would turn each read into a write; once a minute is enough. */
const SESSION_TOUCH_INTERVAL_MS = 60_000;

export interface SessionPolicy {
  /** Absolute lifetime, and the idle timeout, of an ordinary sign-in. */
  ttlS: number;
  idleS: number;
  /** The same for "remember me". */
  rememberTtlS: number;
  rememberIdleS: number;
  /**
   * How long after its exchange a refresh token, presented again, counts as a concurrent refresh
   * (answered `refresh_token_superseded`) rather than a replay (which ends the session). Long enough
   * for requests racing over a slow network, short enough that a stolen token gains nothing; 0 =
   * every second use is a replay.
   */
  refreshReuseGraceS: number;
}

export interface SessionInfo {
  id: string;
  current: boolean;
  createdAt: string;
  lastActiveAt: string;
  expiresAt: string;
  idleExpiresAt: string;
  rememberMe: boolean;
  /** The second factor the sign-in used: the session's 2FA level. */
  secondFactor: 'none' | 'totp' | 'backup_code';
  ip: string | null;
  userAgent: string | null;
  device: Device;
  /** Where the sign-in came from, by the GeoIP database at the time (KEYNEST_GEOIP_DB); null when unknown. */
  location: GeoLocation | null;
}

type SessionRow = NonNullable<Awaited<ReturnType<typeof store.findSessionById>>>;

/** What a sign-in or a refresh hands the client. The refresh token is shown here once, never again. */
export interface SessionCredentials {
  session: { id: string; expiresAt: string };
  accessToken: string;
  accessTokenExpiresAt: string;
  tokenType: 'Bearer';
  refreshToken: string;
}

/**
 * Server-side sign-in sessions. Invariants:
 * - a session is used through short-lived signed access tokens (AccessTokens) and renewed with an
 *   opaque refresh token, shown once and stored only as its SHA-256 digest;
 * - a refresh token works once: each refresh returns a new one, and presenting a used one again
 *   revokes the whole session (someone else holds a copy: reuse detection);
 * - an access token is honoured only while its session lives: every request checks the session
 *   row (from memory; a revocation drops it at once), so sign-out and revocation end access tokens
 *   immediately, not at their expiry;
 * - a session ends at its absolute expiry, after `idle timeout` without use (to within the one-minute
 *   touch interval), or when revoked; revocation takes effect on this instance at once (the
 *   invalidation bus drops the cached row, always after the revocation committed);
 * - a user holds at most the org's session limit of live sessions: a new sign-in ends the oldest;
 * - a user sees and ends only their own sessions; anyone else's id is answered as not found.
 */
export class SessionService {
  /** Session rows by id: authentication without a query on every request. */
  readonly #byId = new TtlCache<string, SessionRow>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      invalidation: Invalidation;
      orgs: Pick<OrgService, 'sessionLimit'>;
      members: Pick<MemberAccessLoader, 'standing'>;
      accessTokens: AccessTokens;
      policy: SessionPolicy;
      geoIp?: Pick<GeoIp, 'locate'> | undefined;
    },
  ) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'session.revoked' || e.type === 'session.changed') this.#byId.deleteWhere((r) => r.id === e.sessionId);
      else if (e.type === 'user.changed') this.#byId.deleteWhere((r) => r.user_id === e.userId);
      else if (e.type === 'org.changed') this.#byId.deleteWhere((r) => r.org_id === e.orgId);
    });
  }

  /**
   * A new session inside the sign-in's transaction. Returns the sessions it evicted to stay within
   * the limit: the caller announces them with `announceRevoked` once the transaction committed.
   */
  async create(trx: Db, who: { orgId: string; userId: string }, ctx: AnonymousContext, opts: { rememberMe: boolean; secondFactor?: 'none' | 'totp' | 'backup_code' }) {
    const { policy } = this.deps;
    const refreshToken = newToken('ref');
    const id = newId('ses');
    const expiresAt = ctx.now + (opts.rememberMe ? policy.rememberTtlS : policy.ttlS) * 1000;
    // Kept with the session: the list shows where the sign-in was placed then, whatever a newer database says.
    const location = this.deps.geoIp?.locate(ctx.ip) ?? null;
    await store.insertSession(trx, {
      id,
      orgId: who.orgId,
      userId: who.userId,
      secondFactor: opts.secondFactor ?? 'none',
      digest: tokenDigest(refreshToken),
      now: ctx.now,
      expiresAt,
      idleTimeoutMs: (opts.rememberMe ? policy.rememberIdleS : policy.idleS) * 1000,
      rememberMe: opts.rememberMe,
      ip: ctx.ip,
      userAgent: ctx.userAgent?.slice(0, 512) ?? null,
      location: storedLocation(location),
    });
    const live = await store.listLiveSessions(trx, who.orgId, who.userId, ctx.now);
    const limit = await this.deps.orgs.sessionLimit(trx, who.orgId);
    const over = live.filter((s) => s.id !== id).slice(limit - 1).map((s) => s.id);
    const evicted = await store.revokeUserSessions(trx, who.orgId, who.userId, over, ctx.now);
    await store.pruneUsedRefreshTokens(trx, who.userId, ctx.now);
    const audit = { orgId: who.orgId, actor: { type: 'user' as const, id: who.userId }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
    for (const sid of evicted) {
      await this.deps.audit.record(trx, audit, { action: 'session.revoke', target: { type: 'session', id: sid }, details: { reason: 'session_limit' } });
    }
    const access = await this.deps.accessTokens.issue({ sessionId: id, userId: who.userId, orgId: who.orgId, sessionExpiresAt: expiresAt }, ctx.now);
    const credentials = credentialsOf(id, expiresAt, access, refreshToken);
    return { id, credentials, evicted, location };
  }

  /**
   * Exchanges a refresh token for a new access token and a new refresh token. A refresh token that
   * was already exchanged revokes its session (and is answered like any invalid one): either the
   * client or a thief used it twice, and we cannot tell which, so neither keeps the session.
   */
  async refresh(refreshToken: string, ctx: AnonymousContext): Promise<SessionCredentials> {
    const digest = tokenDigest(refreshToken);
    const invalid = new AppError('invalid_refresh_token', 'Invalid, expired or revoked refresh token: sign in again');
    const { db, audit } = this.deps;
    if (tokenKind(refreshToken) !== 'ref') throw invalid;
    const row = await store.findSessionByRefreshDigest(db, digest);
    if (!row || !constantTimeEqual(row.token_digest, digest)) {
      await this.#detectReuse(digest, ctx);
      throw invalid;
    }
    if (!isLive(row, ctx.now)) throw invalid;
    const next = newToken('ref');
    const rotated = await db.transaction().execute(async (trx) => {
      if (!(await store.rotateRefreshToken(trx, row.id, digest, tokenDigest(next), ctx.now))) return false;
      const who = { orgId: row.org_id, actor: { type: 'user' as const, id: row.user_id }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
      await audit.record(trx, who, { action: 'session.refresh', target: { type: 'session', id: row.id } });
      return true;
    });
    // Lost the race to another refresh with the same token: that is a second use.
    if (!rotated) {
      await this.#detectReuse(digest, ctx);
      throw invalid;
    }
    this.announceChanged(row.id);
    const access = await this.deps.accessTokens.issue({ sessionId: row.id, userId: row.user_id, orgId: row.org_id, sessionExpiresAt: row.expires_at }, ctx.now);
    return credentialsOf(row.id, row.expires_at, access, next);
  }

  /**
   * The session a refresh token belongs to, current or already exchanged (live or not), without
   * spending it: what a CSRF token of a cookie request is bound to (http/csrf.ts). Null for a
   * token no session ever had.
   */
  async sessionOfRefreshToken(refreshToken: string): Promise<string | null> {
    if (tokenKind(refreshToken) !== 'ref') return null;
    const digest = tokenDigest(refreshToken);
    const row = await store.findSessionByRefreshDigest(this.deps.db, digest);
    if (row && constantTimeEqual(row.token_digest, digest)) return row.id;
    return (await store.findUsedRefreshToken(this.deps.db, digest))?.id ?? null;
  }

  /**
   * A refresh token that was already exchanged. Within `refreshReuseGraceS` of its exchange it is
   * answered `refresh_token_superseded` and nothing more: two browser tabs sharing the cookie, or two
   * requests of one client, refreshed at the same moment, and the loser should retry with the token
   * the winner stored (the browser's cookie jar has it). Later, it is a replay: the session ends.
   */
  async #detectReuse(digest: string, ctx: AnonymousContext): Promise<void> {
    const { db, audit } = this.deps;
    const used = await store.findUsedRefreshToken(db, digest);
    if (!used) return;
    const who = { orgId: used.org_id, actor: { type: 'anonymous' as const, id: null }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
    if (used.revoked_at === null && ctx.now - used.used_at <= this.deps.policy.refreshReuseGraceS * 1000) {
      await audit.recordAlone(who, { action: 'session.refresh', outcome: 'failure', target: { type: 'session', id: used.id }, details: { reason: 'refresh_token_superseded' } });
      throw new AppError('refresh_token_superseded', 'This refresh token was just exchanged by another request: retry with the newest one');
    }
    const revoked = await db.transaction().execute(async (trx) => {
      const done = await store.revokeUserSessions(trx, used.org_id, used.user_id, [used.id], ctx.now);
      await audit.record(trx, who, { action: 'session.refresh', outcome: 'failure', target: { type: 'session', id: used.id }, details: { reason: 'refresh_token_reuse', sessionRevoked: done.length > 0 } });
      for (const id of done) await audit.record(trx, who, { action: 'session.revoke', target: { type: 'session', id }, details: { reason: 'refresh_token_reuse' } });
      return done;
    });
    this.announceRevoked(revoked);
  }

  /**
   * Revokes every live session of a user in one org inside the caller's transaction (a member
   * removed from it); returns their ids for `announceRevoked` once the transaction committed.
   */
  async revokeAllInOrg(trx: Db, orgId: string, userId: string, now: number): Promise<string[]> {
    const live = await store.listLiveSessions(trx, orgId, userId, now);
    return store.revokeUserSessions(trx, orgId, userId, live.map((s) => s.id), now);
  }

  /** Records a re-authentication on the caller's session (inside the caller's transaction). */
  async markAuthenticated(trx: Db, sessionId: string, now: number): Promise<void> {
    await store.markSessionAuthenticated(trx, sessionId, now);
  }

  /** After `markAuthenticated` committed: cached copies of the session row are stale. */
  announceChanged(sessionId: string): void {
    this.deps.invalidation.publish({ type: 'session.changed', sessionId });
  }

  announceRevoked(ids: readonly string[]): void {
    for (const sessionId of ids) this.deps.invalidation.publish({ type: 'session.revoked', sessionId });
  }

  /**
   * The principal behind an access token, or null when the token is invalid or expired, or its
   * session is unknown, revoked, expired or idle too long.
   */
  async authenticate(accessToken: string, now: number): Promise<UserPrincipal | null> {
    const claims = await this.deps.accessTokens.verify(accessToken, now);
    if (!claims) return null;
    let row = this.#byId.get(claims.sessionId, now);
    if (!row) {
      const epoch = this.#byId.epoch;
      row = await store.findSessionById(this.deps.db, claims.sessionId);
      if (row) this.#byId.set(claims.sessionId, row, now, epoch);
    }
    if (!row || row.user_id !== claims.userId || row.org_id !== claims.orgId) return null;
    if (!isLive(row, now)) return null;
    // What the member may do now (role, custom rules, project overrides); null: not a member.
    const standing = await this.deps.members.standing(row.org_id, row.user_id, now);
    if (!standing) return null;
    if (now - row.last_active_at > SESSION_TOUCH_INTERVAL_MS) {
      row.last_active_at = now;
      await store.touchSession(this.deps.db, row.id, now);
    }
    const required = row.require_2fa === 'all' || (row.require_2fa === 'admins' && runsTheOrg(standing.access));
    return {
      type: 'user',
      orgId: row.org_id,
      userId: row.user_id,
      email: row.email,
      role: standing.role,
      access: standing.access,
      sessionId: row.id,
      authenticatedAt: row.authenticated_at,
      mustEnrolTwoFactor: required && row.totp_state !== 'active',
    };
  }

  async list(ctx: RequestContext): Promise<SessionInfo[]> {
    const p = signedInUser(ctx);
    const rows = await store.listLiveSessions(this.deps.db, p.orgId, p.userId, ctx.now);
    return rows
      .filter((r) => ctx.now - r.last_active_at < r.idle_timeout_ms)
      .map((r) => ({
        id: r.id,
        current: r.id === p.sessionId,
        createdAt: iso(r.created_at),
        lastActiveAt: iso(r.last_active_at),
        expiresAt: iso(r.expires_at),
        idleExpiresAt: iso(Math.min(r.expires_at, r.last_active_at + r.idle_timeout_ms)),
        rememberMe: r.remember_me === 1,
        secondFactor: r.second_factor,
        ip: r.ip,
        userAgent: r.user_agent,
        device: parseUserAgent(r.user_agent),
        location: parseStoredLocation(r.location),
      }));
  }

  /** Ends one of the caller's own sessions (the current one included: that is a sign-out). */
  async revoke(ctx: RequestContext, id: string, reason: 'logout' | 'revoked'): Promise<void> {
    const revoked = await this.#revoke(ctx, [id], reason);
    if (revoked.length === 0) throw notFound('session');
  }

  /** Ends every other session of the caller (the current one stays), or all of them. */
  async revokeMany(ctx: RequestContext, which: 'others' | 'all'): Promise<number> {
    const p = signedInUser(ctx);
    const live = await store.listLiveSessions(this.deps.db, p.orgId, p.userId, ctx.now);
    const ids = live.map((s) => s.id).filter((id) => which === 'all' || id !== p.sessionId);
    return (await this.#revoke(ctx, ids, which === 'all' ? 'revoke_all' : 'revoke_others')).length;
  }

  async #revoke(ctx: RequestContext, ids: string[], reason: string): Promise<string[]> {
    const p = signedInUser(ctx);
    const revoked = await this.deps.db.transaction().execute(async (trx) => {
      const done = await store.revokeUserSessions(trx, p.orgId, p.userId, ids, ctx.now);
      for (const id of done) {
        await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'session.revoke', target: { type: 'session', id }, details: { reason, current: id === p.sessionId } });
      }
      return done;
    });
    this.announceRevoked(revoked);
    return revoked;
  }
}

function isLive(row: Pick<SessionRow, 'revoked_at' | 'expires_at' | 'last_active_at' | 'idle_timeout_ms'>, now: number): boolean {
  return row.revoked_at === null && row.expires_at > now && now - row.last_active_at < row.idle_timeout_ms;
}

function credentialsOf(id: string, expiresAt: number, access: { token: string; expiresAt: number }, refreshToken: string): SessionCredentials {
  return { session: { id, expiresAt: iso(expiresAt) }, accessToken: access.token, accessTokenExpiresAt: iso(access.expiresAt), tokenType: 'Bearer', refreshToken };
}
