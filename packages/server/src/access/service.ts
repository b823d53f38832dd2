import type { AuditService } from '../audit/service.js';
import type { OrgQuotas } from '../orgs/quotas.js';
import { auditContextOf, iso, isoOrNull, type RequestContext } from '../context.js';
import { constantTimeEqual, newId, newToken, tokenDigest } from '../crypto/random.js';
import { AppError, notFound } from '../errors.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import type { MemberAccessLoader } from '../roles/access-loader.js';
import type { Db } from '../storage/database.js';
import type { Tenancy } from '../storage/tenancy.js';
import type { MemberAccess } from './member-access.js';
import { anyRangeIncludes, type IpRange } from './ip-ranges.js';
import { type Permission, type TokenAccess, type TokenType } from './permissions.js';
import { can } from './policy.js';
import type { TokenGrant, TokenOwner, TokenPrincipal } from './principal.js';
import * as store from './store.js';
import { allowedRanges, compileRanges, effectivePermissions, fromAccess, tokenExpiry, tokenPermissions } from './token-rules.js';

/** last_used_at and use_count are for humans; writing them on every request would turn reads into writes. */
const TOKEN_TOUCH_INTERVAL_MS = 60_000;
const SHOWN_PREFIX_CHARS = 12;

interface Ref {
  id: string;
  name: string;
}

export interface TokenInfo {
  id: string;
  name: string;
  prefix: string;
  type: TokenType;
  access: TokenAccess | null;
  permissions: Permission[];
  owner: TokenOwner;
  scope: { project: Ref; environment: Ref | null }[];
  /** The first grant, as the original one-environment contract named it. */
  project: Ref;
  environment: Ref | null;
  allowedIps: string[] | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  useCount: number;
  revokedAt: string | null;
  rotatedAt: string | null;
  replacedBy: string | null;
  /** SHA-256 (hex) of the client certificate the token is bound to (docs/tls.md); null: none. */
  clientCertSha256: string | null;
}

export interface NewToken {
  name: string;
  grants: { project: Ref; environment: Ref | null }[];
  /** Either a type (with permissions when custom) or the original read/write shorthand. */
  type?: TokenType;
  permissions?: Permission[];
  access?: TokenAccess;
  owner: TokenOwner;
  allowedIps?: string[] | null;
  expiresInSeconds?: number | null;
  /** Bind the token to a client certificate (SHA-256 hex, normalized): see `bindClientCert`. */
  clientCertSha256?: string | null;
}

/** What authenticating an API token found: a principal, a refusal worth its own answer, or nothing. */
export type TokenAuthentication = { principal: TokenPrincipal } | { refused: 'ip_not_allowed' | 'client_certificate_required' } | null;

interface CachedToken {
  row: store.AuthTokenRow;
  ranges: IpRange[] | null;
  /** null: the token authenticates nothing (its creator left and it is not an org token). */
  principal: TokenPrincipal | null;
}

/**
 * API tokens for machines. Invariants: the token is shown once (at creation or rotation) and
 * stored only as its SHA-256 digest; a revoked or expired token authenticates nothing; a token
 * acts only inside its grants, with at most its creator's current permissions, and only from its
 * allowed addresses; every token expires (KEYNEST_TOKEN_MAX_TTL_S at most).
 */
export class ApiTokenService {
  /** Token rows by digest: authentication without a query on every request. */
  readonly #byDigest = new TtlCache<string, CachedToken>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);
  /** Client-certificate fingerprint -> the live token bound to it (null: none), for certificate-only callers. */
  readonly #byClientCert = new TtlCache<string, { tokenId: string; digest: string } | null>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);
  /** Uses not yet written, by token id: flushed with the once-a-minute last_used write. */
  readonly #pendingUses = new Map<string, number>();

  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      invalidation: Invalidation;
      members: Pick<MemberAccessLoader, 'standing'>;
      quotas: Pick<OrgQuotas, 'assertRoom'>;
      maxTtlS: number;
      tenancy: Pick<Tenancy, 'runAsSystem'>;
    },
  ) {
    const reaches = (t: CachedToken, projectId?: string, environmentId?: string) =>
      t.row.grants.some((g) => g.project_id === projectId || (environmentId !== undefined && g.environment_id === environmentId));
    deps.invalidation.subscribe((e) => {
      if (e.type === 'token.revoked') {
        this.#byDigest.deleteWhere((t) => t.row.id === e.tokenId);
        // Also published when a binding changes: "no token for this certificate" may be stale too.
        this.#byClientCert.deleteWhere((t) => t === null || t.tokenId === e.tokenId);
      }
      else if (e.type === 'project.deleted') this.#byDigest.deleteWhere((t) => reaches(t, e.projectId));
      else if (e.type === 'environment.deleted') this.#byDigest.deleteWhere((t) => reaches(t, undefined, e.environmentId));
      // A creator's role, custom role or overrides changed, or they left: their tokens follow at once.
      else if (e.type === 'user.changed') this.#byDigest.deleteWhere((t) => t.row.created_by === e.userId);
    });
  }

  async create(ctx: RequestContext, input: NewToken): Promise<{ token: string; info: TokenInfo }> {
    const p = ctx.principal;
    if (p.type !== 'user') throw new AppError('forbidden', 'API tokens are created by signed-in users');
    const name = input.name.trim();
    if (!name) throw new AppError('invalid_name', 'A token needs a name');
    const { type, permissions } = input.access && !input.type ? fromAccess(input.access) : { type: input.type ?? 'read-only', permissions: tokenPermissions(input.type ?? 'read-only', input.permissions) };
    this.#assertCreatorMay(ctx, permissions, input.owner, input.grants);
    const expiresAt = tokenExpiry(ctx.now, input.expiresInSeconds, { maxTtlS: this.deps.maxTtlS, defaultToMax: input.type === undefined });
    const ips = allowedRanges(input.allowedIps);
    const grants = dedupeGrants(input.grants);
    const token = newToken('api');
    const id = newId('tok');
    const clientCert = input.clientCertSha256 ?? null;
    if (clientCert !== null) await this.#assertCertFree(clientCert, ctx.now, null);
    await this.deps.db.transaction().execute(async (trx) => {
      await this.deps.quotas.assertRoom(trx, p.orgId, 'tokens', 1, ctx.now);
      await store.insertApiToken(
        trx,
        rowOf({ id, orgId: p.orgId, name, token, createdBy: p.userId, owner: input.owner, type, access: type === input.type ? null : (input.access ?? null), permissions, ips, now: ctx.now, expiresAt, clientCert }),
        grants.map((g) => ({ token_id: id, project_id: g.project.id, environment_id: g.environment?.id ?? null })),
      );
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'token.create',
        target: { type: 'token', id, name },
        details: { type, permissions, owner: input.owner, scope: grants.map(grantText), allowedIps: ips, expiresAt: iso(expiresAt), ...(clientCert ? { clientCertSha256: clientCert } : {}) },
      });
    });
    return { token, info: await this.#infoOf(ctx, id) };
  }

  /**
   * A new token with the same name, type, grants and expiry; the old one keeps working for
   * `graceSeconds` (so deployments can switch over), then never again.
   */
  async rotate(ctx: RequestContext, id: string, graceSeconds: number): Promise<{ token: string; info: TokenInfo }> {
    const p = ctx.principal;
    if (p.type !== 'user') throw new AppError('forbidden', 'API tokens are rotated by signed-in users');
    const token = newToken('api');
    const newIdValue = newId('tok');
    await this.deps.db.transaction().execute(async (trx) => {
      const old = await store.findApiToken(trx, p.orgId, id);
      if (!old) throw notFound('token');
      if (old.revoked_at !== null || old.rotated_at !== null || (old.expires_at !== null && old.expires_at <= ctx.now)) {
        throw new AppError('token_not_active', 'Only a live token that was not rotated already can be rotated');
      }
      const permissions = JSON.parse(old.permissions) as Permission[];
      // Rotating hands out a new secret with the token's powers: the rotator must hold them too.
      this.#assertCreatorMay(ctx, permissions, old.owner);
      const graceEndsAt = Math.min(old.expires_at ?? Number.MAX_SAFE_INTEGER, ctx.now + graceSeconds * 1000);
      const grants = await store.findApiTokenGrants(trx, id);
      await store.insertApiToken(
        trx,
        { ...old, id: newIdValue, token_digest: tokenDigest(token), prefix: token.slice(0, SHOWN_PREFIX_CHARS), created_at: ctx.now, revoked_at: null, rotated_at: null, replaced_by: null, last_used_at: null, last_used_ip: null, use_count: 0 },
        grants.map((g) => ({ ...g, token_id: newIdValue })),
      );
      await store.markApiTokenRotated(trx, p.orgId, id, ctx.now, graceEndsAt, newIdValue);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'token.rotate',
        target: { type: 'token', id, name: old.name },
        details: { replacedBy: newIdValue, graceEndsAt: iso(graceEndsAt) },
      });
    });
    // The cached old row still has its old expiry.
    this.deps.invalidation.publish({ type: 'token.revoked', tokenId: id });
    return { token, info: await this.#infoOf(ctx, newIdValue) };
  }

  async list(ctx: RequestContext): Promise<TokenInfo[]> {
    const orgId = ctx.principal.orgId;
    const [rows, grants] = await Promise.all([store.listApiTokens(this.deps.db, orgId), store.listApiTokenGrants(this.deps.db, orgId)]);
    const byToken = new Map<string, TokenInfo['scope']>();
    for (const g of grants) {
      const list = byToken.get(g.token_id) ?? [];
      list.push({ project: { id: g.project_id, name: g.project_name }, environment: g.environment_id && g.environment_name ? { id: g.environment_id, name: g.environment_name } : null });
      byToken.set(g.token_id, list);
    }
    // A token whose every grant was deleted is gone with them (as when it named one environment).
    return rows.filter((r) => byToken.has(r.id)).map((r) => {
      const scope = sortGrants(byToken.get(r.id)!);
      return {
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        type: r.type,
        access: r.access,
        permissions: JSON.parse(r.permissions) as Permission[],
        owner: r.owner,
        scope,
        project: scope[0]!.project,
        environment: scope[0]?.environment ?? null,
        allowedIps: r.allowed_ips === null ? null : (JSON.parse(r.allowed_ips) as string[]),
        createdAt: iso(r.created_at),
        expiresAt: isoOrNull(r.expires_at),
        lastUsedAt: isoOrNull(r.last_used_at),
        lastUsedIp: r.last_used_ip,
        useCount: Number(r.use_count) + (this.#pendingUses.get(r.id) ?? 0),
        revokedAt: isoOrNull(r.revoked_at),
        rotatedAt: isoOrNull(r.rotated_at),
        replacedBy: r.replaced_by,
        clientCertSha256: r.client_cert_sha256,
      };
    });
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
   * Revokes every live user token a user created in one org, inside the caller's transaction (a
   * member removed from it); returns their ids for `announceRevoked` once the transaction
   * committed. Org (service) tokens survive.
   */
  revokeCreatedBy(trx: Db, orgId: string, userId: string, now: number): Promise<string[]> {
    return store.revokeApiTokensCreatedBy(trx, orgId, userId, now);
  }

  /** After a revocation committed: cached copies of the tokens stop authenticating at once. */
  announceRevoked(ids: readonly string[]): void {
    for (const tokenId of ids) this.deps.invalidation.publish({ type: 'token.revoked', tokenId });
  }

  /**
   * The principal behind an API token; null when unknown, revoked, expired or its creator left.
   * `clientCert`: the SHA-256 of the client certificate the TLS handshake verified, if any; a token
   * bound to a certificate authenticates only with it (proof of possession: a leaked bearer token
   * alone is useless).
   */
  async authenticate(token: string, now: number, ip: string | null, requestId: string | null = null, clientCert: string | null = null): Promise<TokenAuthentication> {
    return this.#authenticateDigest(tokenDigest(token), now, ip, requestId, clientCert);
  }

  /**
   * A caller over mutual TLS with no bearer token: the live token bound to its (verified)
   * certificate, the newest one during a rotation's grace. Null when none is bound.
   */
  async authenticateClientCert(clientCert: string, now: number, ip: string | null, requestId: string | null = null): Promise<TokenAuthentication> {
    let bound = this.#byClientCert.get(clientCert, now);
    if (bound === undefined) {
      const epoch = this.#byClientCert.epoch;
      const rows = await store.findLiveApiTokensByClientCert(this.deps.db, clientCert, now);
      // Binding checks every org, but two binders racing could still both succeed: a certificate
      // claimed in two orgs opens neither, so nobody can steer another org's service into theirs.
      const row = rows[0];
      bound = row && rows.every((r) => r.org_id === row.org_id) ? { tokenId: row.id, digest: row.token_digest } : null;
      this.#byClientCert.set(clientCert, bound, now, epoch);
    }
    return bound ? this.#authenticateDigest(bound.digest, now, ip, requestId, clientCert) : null;
  }

  /**
   * Binds a live token to a client certificate (`sha256` null: unbinds). Whoever holds the
   * certificate then acts with the token's powers, so the binder must hold them too, as for a
   * rotation; and one certificate opens one token (a rotation's successor inherits it).
   */
  async bindClientCert(ctx: RequestContext, id: string, sha256: string | null): Promise<TokenInfo> {
    const p = ctx.principal;
    if (p.type !== 'user') throw new AppError('forbidden', 'Client certificates are bound by signed-in users');
    if (sha256 !== null) await this.#assertCertFree(sha256, ctx.now, id);
    let predecessors: string[] = [];
    await this.deps.db.transaction().execute(async (trx) => {
      const row = await store.findApiToken(trx, p.orgId, id);
      if (!row) throw notFound('token');
      if (row.revoked_at !== null || row.rotated_at !== null || (row.expires_at !== null && row.expires_at <= ctx.now)) {
        throw new AppError('token_not_active', 'Only a live token that was not rotated can be bound to a certificate');
      }
      this.#assertCreatorMay(ctx, JSON.parse(row.permissions) as Permission[], row.owner);
      // The rotated predecessors still in their grace hold the old binding too: it goes with this
      // one, or an unbound certificate would go on opening the predecessor until its grace ends.
      predecessors = row.client_cert_sha256 === null ? [] : await store.clearApiTokenClientCert(trx, p.orgId, row.client_cert_sha256, id);
      await store.setApiTokenClientCert(trx, p.orgId, id, sha256);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: sha256 === null ? 'token.client_cert.unbind' : 'token.client_cert.bind',
        target: { type: 'token', id, name: row.name },
        details: { clientCertSha256: sha256, previous: row.client_cert_sha256, ...(predecessors.length > 0 ? { alsoUnbound: predecessors } : {}) },
      });
    });
    // Cached rows carry the old binding (and a certificate may have been looked up as unbound).
    for (const tokenId of [id, ...predecessors]) this.deps.invalidation.publish({ type: 'token.revoked', tokenId });
    return this.#infoOf(ctx, id);
  }

  /**
   * Across every org (another org's certificate must not be claimable either): as `system`, which
   * on PostgreSQL means before the caller's transaction, which keeps the context it began in. The
   * answer says only "in use", never where.
   */
  async #assertCertFree(sha256: string, now: number, exceptTokenId: string | null): Promise<void> {
    const holders = await this.deps.tenancy.runAsSystem(() => store.findLiveApiTokensByClientCert(this.deps.db, sha256, now));
    // A rotated predecessor of the token shares its binding: that is not another holder.
    const chain = exceptTokenId === null ? [] : await this.deps.tenancy.runAsSystem(() => store.predecessorIds(this.deps.db, exceptTokenId));
    if (holders.some((h) => h.id !== exceptTokenId && !chain.includes(h.id))) throw new AppError('client_cert_in_use', 'This client certificate is already bound to another live token: unbind it there first');
  }

  async #authenticateDigest(digest: string, now: number, ip: string | null, requestId: string | null, clientCert: string | null): Promise<TokenAuthentication> {
    let cached = this.#byDigest.get(digest, now);
    if (!cached) {
      const epoch = this.#byDigest.epoch;
      const row = await store.findApiTokenByDigest(this.deps.db, digest);
      // Only real tokens are cached, so made-up ones cannot crowd the cache.
      if (row) {
        const creator = await this.deps.members.standing(row.org_id, row.created_by, now);
        cached = { row, ranges: compileRanges(row.allowed_ips), principal: principalOf(row, creator?.access ?? null) };
        this.#byDigest.set(digest, cached, now, epoch);
      }
    }
    if (!cached || !constantTimeEqual(cached.row.token_digest, digest)) return null;
    const { row, ranges, principal } = cached;
    if (!principal || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
    if (ranges !== null && !anyRangeIncludes(ranges, ip)) return { refused: 'ip_not_allowed' };
    if (row.client_cert_sha256 !== null && (clientCert === null || !constantTimeEqual(row.client_cert_sha256, clientCert))) return { refused: 'client_certificate_required' };
    const uses = (this.#pendingUses.get(row.id) ?? 0) + 1;
    // The cached row carries the last write, so the cache itself throttles it (as for sessions).
    if (now - (row.last_used_at ?? 0) > TOKEN_TOUCH_INTERVAL_MS) {
      const firstToday = row.last_used_at === null || utcDay(row.last_used_at) !== utcDay(now);
      row.last_used_at = now;
      this.#pendingUses.delete(row.id);
      await store.markApiTokenUsed(this.deps.db, row.id, now, ip, uses);
      // A token's use is recorded once a day (at least: instances do not coordinate it), not on
      // every request: its reads of values are recorded one by one anyway.
      if (firstToday) {
        await this.deps.audit.recordAlone(
          { orgId: row.org_id, actor: { type: 'token', id: row.id, name: row.name }, ip, requestId, now },
          { action: 'token.use', target: { type: 'token', id: row.id, name: row.name }, details: { firstUseToday: true } },
        );
      }
    } else {
      this.#pendingUses.set(row.id, uses);
    }
    return { principal };
  }

  /** Each permission, in each granted project or environment (anywhere, for a rotation), must be the creator's own. */
  #assertCreatorMay(ctx: RequestContext, permissions: readonly Permission[], owner: TokenOwner, grants: NewToken['grants'] = []): void {
    const scopes = grants.length === 0 ? [{}] : grants.map((g) => ({ projectId: g.project.id, environment: g.environment ?? undefined }));
    for (const perm of permissions) {
      if (!scopes.every((scope) => can(ctx.principal, perm, scope))) throw new AppError('forbidden', 'A token cannot be given more access than its creator has');
    }
    // A service token outlives its creator, so only those who run the org's membership make one.
    if (owner === 'org' && !can(ctx.principal, 'member:manage')) throw new AppError('forbidden', 'Only members who manage the organization create service tokens');
  }

  async #infoOf(ctx: RequestContext, id: string): Promise<TokenInfo> {
    const info = (await this.list(ctx)).find((t) => t.id === id);
    if (!info) throw notFound('token');
    return info;
  }
}

function rowOf(v: {
  id: string;
  orgId: string;
  name: string;
  token: string;
  createdBy: string;
  owner: TokenOwner;
  type: TokenType;
  access: TokenAccess | null;
  permissions: Permission[];
  ips: string[] | null;
  now: number;
  expiresAt: number;
  clientCert: string | null;
}): store.ApiTokenRow {
  return {
    id: v.id,
    org_id: v.orgId,
    name: v.name,
    token_digest: tokenDigest(v.token),
    prefix: v.token.slice(0, SHOWN_PREFIX_CHARS),
    created_by: v.createdBy,
    owner: v.owner,
    type: v.type,
    access: v.access,
    permissions: JSON.stringify(v.permissions),
    allowed_ips: v.ips === null ? null : JSON.stringify(v.ips),
    created_at: v.now,
    expires_at: v.expiresAt,
    revoked_at: null,
    rotated_at: null,
    replaced_by: null,
    last_used_at: null,
    last_used_ip: null,
    use_count: 0,
    client_cert_sha256: v.clientCert,
  };
}

function principalOf(row: store.AuthTokenRow, creator: MemberAccess | null): TokenPrincipal | null {
  const permissions = effectivePermissions(JSON.parse(row.permissions) as Permission[], row.owner, creator);
  // Every project or environment it was granted is deleted: the token is gone with them.
  if (!permissions || row.grants.length === 0) return null;
  const grants: TokenGrant[] = row.grants.map((g) => ({ projectId: g.project_id, environmentId: g.environment_id }));
  return {
    type: 'token',
    orgId: row.org_id,
    tokenId: row.id,
    name: row.name,
    createdBy: row.created_by,
    owner: row.owner,
    scope: { type: row.type, access: row.access, permissions, grants },
    creatorAccess: creator,
  };
}

/** A whole-project grant covers its environments' grants, which are dropped. */
function dedupeGrants(grants: NewToken['grants']): NewToken['grants'] {
  const whole = new Set(grants.filter((g) => g.environment === null).map((g) => g.project.id));
  const seen = new Set<string>();
  return grants.filter((g) => {
    if (g.environment !== null && whole.has(g.project.id)) return false;
    const key = `${g.project.id}/${g.environment?.id ?? '*'}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortGrants(grants: TokenInfo['scope']): TokenInfo['scope'] {
  const key = (g: TokenInfo['scope'][number]) => `${g.project.name}\u0000${g.environment?.name ?? ''}`;
  return grants.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function grantText(g: NewToken['grants'][number]): string {
  return g.environment ? `${g.project.name}/${g.environment.name}` : `${g.project.name}/*`;
}

function utcDay(ms: number): number {
  return Math.floor(ms / 86_400_000);
}
