import type { AuditService } from '../audit/service.js';
import { auditContextOf, iso, isoOrNull, type RequestContext } from '../context.js';
import { constantTimeEqual, newId, newToken, tokenDigest } from '../crypto/random.js';
import { AppError, notFound } from '../errors.js';
import type { Target } from '../projects/service.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import type { Db } from '../storage/database.js';
import { TOKEN_ACCESS_PERMISSIONS, type TokenAccess } from './permissions.js';
import { can } from './policy.js';
import type { TokenPrincipal } from './principal.js';
import * as store from './store.js';

/** last_used_at is for humans; writing it on every request would turn reads into writes. */
const TOKEN_TOUCH_INTERVAL_MS = 60_000;
/** Until the full token model (issue 4) sets a configurable maximum, a token lives at most a year. */
export const MAX_TOKEN_TTL_S = 366 * 24 * 3600;
const SHOWN_PREFIX_CHARS = 12;

export interface TokenInfo {
  id: string;
  name: string;
  prefix: string;
  project: { id: string; name: string };
  environment: { id: string; name: string };
  access: TokenAccess;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/**
 * API tokens for machines. Invariants: the token is shown once, at creation, and stored only as
 * its SHA-256 digest; a revoked or expired token authenticates nothing; a token is scoped to one
 * project environment and may never do more than its creator could there.
 */
export class ApiTokenService {
  /** Token rows by digest: authentication without a query on every request. */
  readonly #byDigest = new TtlCache<string, store.ApiTokenRow>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(private readonly deps: { db: Db; audit: AuditService; invalidation: Invalidation }) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'token.revoked') this.#byDigest.deleteWhere((t) => t.id === e.tokenId);
      else if (e.type === 'project.deleted') this.#byDigest.deleteWhere((t) => t.project_id === e.projectId);
      else if (e.type === 'environment.deleted') this.#byDigest.deleteWhere((t) => t.environment_id === e.environmentId);
    });
  }

  async create(
    ctx: RequestContext,
    input: { name: string; target: Required<Target>; access: TokenAccess; expiresInSeconds: number | null },
  ): Promise<{ token: string; info: TokenInfo }> {
    const p = ctx.principal;
    if (p.type !== 'user') throw new AppError('forbidden', 'API tokens are created by signed-in users');
    const scope = { projectId: input.target.project.id, environmentId: input.target.environment.id };
    for (const perm of TOKEN_ACCESS_PERMISSIONS[input.access]) {
      if (!can(p, perm, scope)) throw new AppError('forbidden', 'A token cannot be given more access than its creator has');
    }
    const name = input.name.trim();
    if (!name) throw new AppError('invalid_name', 'A token needs a name');
    const token = newToken('api');
    const id = newId('tok');
    const expiresAt = input.expiresInSeconds === null ? null : ctx.now + input.expiresInSeconds * 1000;
    await this.deps.db.transaction().execute(async (trx) => {
      await store.insertApiToken(trx, {
        id,
        org_id: p.orgId,
        name,
        token_digest: tokenDigest(token),
        prefix: token.slice(0, SHOWN_PREFIX_CHARS),
        created_by: p.userId,
        project_id: scope.projectId,
        environment_id: scope.environmentId,
        access: input.access,
        created_at: ctx.now,
        expires_at: expiresAt,
        revoked_at: null,
        last_used_at: null,
        last_used_ip: null,
      });
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'token.create',
        target: { type: 'token', id, name },
        details: { project: input.target.project.name, environment: input.target.environment.name, access: input.access, expiresAt: isoOrNull(expiresAt) },
      });
    });
    return {
      token,
      info: {
        id,
        name,
        prefix: token.slice(0, SHOWN_PREFIX_CHARS),
        project: input.target.project,
        environment: input.target.environment,
        access: input.access,
        createdAt: iso(ctx.now),
        expiresAt: isoOrNull(expiresAt),
        lastUsedAt: null,
        revokedAt: null,
      },
    };
  }

  async list(ctx: RequestContext): Promise<TokenInfo[]> {
    const rows = await store.listApiTokens(this.deps.db, ctx.principal.orgId);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      prefix: r.prefix,
      project: { id: r.project_id, name: r.project_name },
      environment: { id: r.environment_id, name: r.environment_name },
      access: r.access,
      createdAt: iso(r.created_at),
      expiresAt: isoOrNull(r.expires_at),
      lastUsedAt: isoOrNull(r.last_used_at),
      revokedAt: isoOrNull(r.revoked_at),
    }));
  }

  async revoke(ctx: RequestContext, id: string): Promise<void> {
    await this.deps.db.transaction().execute(async (trx) => {
      const row = await store.findApiToken(trx, ctx.principal.orgId, id);
      if (!row) throw notFound('token');
      await store.revokeApiToken(trx, ctx.principal.orgId, id, ctx.now);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'token.revoke',
        target: { type: 'token', id, name: row.name },
        details: { alreadyRevoked: row.revoked_at !== null },
      });
    });
    this.deps.invalidation.publish({ type: 'token.revoked', tokenId: id });
  }

  /**
   * Revokes every live token a user created in one org, inside the caller's transaction (a member
   * removed from it); returns their ids for `announceRevoked` once the transaction committed.
   */
  revokeCreatedBy(trx: Db, orgId: string, userId: string, now: number): Promise<string[]> {
    return store.revokeApiTokensCreatedBy(trx, orgId, userId, now);
  }

  /** After a revocation committed: cached copies of the tokens stop authenticating at once. */
  announceRevoked(ids: readonly string[]): void {
    for (const tokenId of ids) this.deps.invalidation.publish({ type: 'token.revoked', tokenId });
  }

  /** The principal behind an API token, or null when unknown, revoked or expired. */
  async authenticate(token: string, now: number, ip: string | null): Promise<TokenPrincipal | null> {
    const digest = tokenDigest(token);
    let row = this.#byDigest.get(digest, now);
    if (!row) {
      const epoch = this.#byDigest.epoch;
      row = await store.findApiTokenByDigest(this.deps.db, digest);
      // Only real tokens are cached, so made-up ones cannot crowd the cache.
      if (row) this.#byDigest.set(digest, row, now, epoch);
    }
    if (!row || !constantTimeEqual(row.token_digest, digest)) return null;
    if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
    // The cached row carries the last write, so the cache itself throttles it (as for sessions).
    if (now - (row.last_used_at ?? 0) > TOKEN_TOUCH_INTERVAL_MS) {
      row.last_used_at = now;
      await store.markApiTokenUsed(this.deps.db, row.id, now, ip);
    }
    return {
      type: 'token',
      orgId: row.org_id,
      tokenId: row.id,
      name: row.name,
      createdBy: row.created_by,
      scope: { projectId: row.project_id, environmentId: row.environment_id, access: row.access },
    };
  }
}
