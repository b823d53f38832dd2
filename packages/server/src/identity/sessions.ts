import { isRole } from '../access/permissions.js';
import { signedInUser, type UserPrincipal } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import { auditContextOf, iso, type AnonymousContext, type RequestContext } from '../context.js';
import { constantTimeEqual, newId, newToken, tokenDigest } from '../crypto/random.js';
import { notFound } from '../errors.js';
import type { OrgService } from '../orgs/service.js';
import type { Db } from '../storage/database.js';
import type { GeoIp } from '../geo/geoip.js';
import { parseStoredLocation, storedLocation, type GeoLocation } from '../geo/location.js';
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
}

export interface SessionInfo {
  id: string;
  current: boolean;
  createdAt: string;
  lastActiveAt: string;
  expiresAt: string;
  idleExpiresAt: string;
  rememberMe: boolean;
  ip: string | null;
  userAgent: string | null;
  device: Device;
  /** Where the sign-in came from, by the GeoIP database at the time (KEYNEST_GEOIP_DB); null when unknown. */
  location: GeoLocation | null;
}

type SessionRow = NonNullable<Awaited<ReturnType<typeof store.findSessionByDigest>>>;

/**
 * Server-side sign-in sessions. Invariants:
 * - a session token is shown once and stored only as its SHA-256 digest;
 * - a session ends at its absolute expiry, after `idle timeout` without use (to within the one-minute
 *   touch interval), or when revoked; revocation takes effect on this instance at once (the
 *   invalidation bus drops the cached row, always after the revocation committed);
 * - a user holds at most the org's session limit of live sessions: a new sign-in ends the oldest;
 * - a user sees and ends only their own sessions; anyone else's id is answered as not found.
 */
export class SessionService {
  /** Session rows by token digest: authentication without a query on every request. */
  readonly #byDigest = new TtlCache<string, SessionRow>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(private readonly deps: { db: Db; audit: AuditService; invalidation: Invalidation; orgs: Pick<OrgService, 'sessionLimit'>; policy: SessionPolicy; geoIp?: Pick<GeoIp, 'locate'> | undefined }) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'session.revoked' || e.type === 'session.changed') this.#byDigest.deleteWhere((r) => r.id === e.sessionId);
      else if (e.type === 'user.changed') this.#byDigest.deleteWhere((r) => r.user_id === e.userId);
      else if (e.type === 'org.changed') this.#byDigest.deleteWhere((r) => r.org_id === e.orgId);
    });
  }

  /**
   * A new session inside the sign-in's transaction. Returns the sessions it evicted to stay within
   * the limit: the caller announces them with `announceRevoked` once the transaction committed.
   */
  async create(trx: Db, who: { orgId: string; userId: string }, ctx: AnonymousContext, opts: { rememberMe: boolean; secondFactor?: 'none' | 'totp' | 'backup_code' }) {
    const { policy } = this.deps;
    const token = newToken('ses');
    const id = newId('ses');
    const expiresAt = ctx.now + (opts.rememberMe ? policy.rememberTtlS : policy.ttlS) * 1000;
    // Kept with the session: the list shows where the sign-in was placed then, whatever a newer database says.
    const location = this.deps.geoIp?.locate(ctx.ip) ?? null;
    await store.insertSession(trx, {
      id,
      orgId: who.orgId,
      userId: who.userId,
      secondFactor: opts.secondFactor ?? 'none',
      digest: tokenDigest(token),
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
    const audit = { orgId: who.orgId, actor: { type: 'user' as const, id: who.userId }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
    for (const sid of evicted) {
      await this.deps.audit.record(trx, audit, { action: 'session.revoke', target: { type: 'session', id: sid }, details: { reason: 'session_limit' } });
    }
    return { id, token, expiresAt: iso(expiresAt), evicted, location };
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

  /** The principal behind a session token, or null when it is unknown, revoked, expired or idle too long. */
  async authenticate(token: string, now: number): Promise<UserPrincipal | null> {
    const digest = tokenDigest(token);
    let row = this.#byDigest.get(digest, now);
    if (!row) {
      const epoch = this.#byDigest.epoch;
      row = await store.findSessionByDigest(this.deps.db, digest);
      if (row) this.#byDigest.set(digest, row, now, epoch);
    }
    if (!row || !constantTimeEqual(row.token_digest, digest)) return null;
    if (row.revoked_at !== null || row.expires_at <= now || now - row.last_active_at >= row.idle_timeout_ms || !isRole(row.role)) return null;
    if (now - row.last_active_at > SESSION_TOUCH_INTERVAL_MS) {
      row.last_active_at = now;
      await store.touchSession(this.deps.db, row.id, now);
    }
    const required = row.require_2fa === 'all' || (row.require_2fa === 'admins' && (row.role === 'owner' || row.role === 'admin'));
    return {
      type: 'user',
      orgId: row.org_id,
      userId: row.user_id,
      email: row.email,
      role: row.role,
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
