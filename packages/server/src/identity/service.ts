import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { isRole } from '../access/permissions.js';
import type { UserPrincipal } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import type { AnonymousContext, RequestContext } from '../context.js';
import { auditContextOf } from '../context.js';
import { hashPassword, needsRehash, verifyPassword } from '../crypto/passwords.js';
import { constantTimeEqual, newId, newToken, tokenDigest } from '../crypto/random.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { OrgService } from '../orgs/service.js';
import { isUniqueViolation } from '../storage/dialect.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import type { Db } from '../storage/database.js';
import { deleteSetting, getSetting, insertSetting, putSetting } from './settings-store.js';
import * as store from './store.js';

const SETUP_DONE = 'setup_completed';
const SETUP_TOKEN_DIGEST = 'setup_token_digest';
/** Writing last_active_at on every request would turn each read into a write; once a minute is enough. */
const SESSION_TOUCH_INTERVAL_MS = 60_000;

export interface SignedIn {
  user: { id: string; email: string };
  org: { id: string; name: string };
  session: { token: string; expiresAt: string };
}

export interface IdentityDeps {
  db: Db;
  orgs: OrgService;
  audit: AuditService;
  log: Logger;
  sessionTtlS: number;
  /** Where the one-time setup token is written for the operator (mode 0600) until it is used. */
  setupTokenFile: string | null;
  invalidation: Invalidation;
}

type SessionRow = NonNullable<Awaited<ReturnType<typeof store.findSessionByDigest>>>;

/**
 * Users, passwords and sessions. Invariants:
 * - passwords are stored only as argon2id hashes; session and setup tokens only as SHA-256 digests;
 * - a failed sign-in says only "invalid credentials", and costs one argon2 verification whether or
 *   not the account exists (no user enumeration by answer or by time);
 * - setup happens once: a latch row is inserted in the setup transaction, so a second setup fails.
 */
export class IdentityService {
  /** Started at construction so the first sign-in of an unknown account costs no more than others. */
  readonly #dummyHash: Promise<string>;

  /** Session rows by token digest: authentication without a query on every request. */
  readonly #byDigest = new TtlCache<string, SessionRow>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(private readonly deps: IdentityDeps) {
    this.#dummyHash = hashPassword(newToken('setup'));
    deps.invalidation.subscribe((e) => {
      if (e.type === 'session.revoked') this.#byDigest.deleteWhere((r) => r.id === e.sessionId);
    });
  }

  async isSetUp(): Promise<boolean> {
    return (await getSetting(this.deps.db, SETUP_DONE)) !== undefined;
  }

  /**
   * On a fresh instance, makes a new one-time setup token, keeps its digest, writes it to the
   * setup-token file and returns it so the operator can be told. Returns null once set up.
   */
  async prepareSetup(now: number): Promise<string | null> {
    if (await this.isSetUp()) {
      this.#removeSetupTokenFile();
      return null;
    }
    const token = newToken('setup');
    await putSetting(this.deps.db, SETUP_TOKEN_DIGEST, tokenDigest(token), now);
    if (this.deps.setupTokenFile) {
      writeFileSync(this.deps.setupTokenFile, `${token}\n`, { mode: 0o600 });
      chmodSync(this.deps.setupTokenFile, 0o600);
    }
    return token;
  }

  async setup(
    input: { setupToken: string; email: string; password: string; orgName: string },
    ctx: AnonymousContext,
  ): Promise<SignedIn> {
    const email = normalizeEmail(input.email);
    // Checked before the (deliberately expensive) hash so that nobody can make an instance that is
    // already set up, or a caller without the token, burn CPU; checked again inside the transaction.
    await this.#assertSetupAllowed(this.deps.db, input.setupToken);
    const passwordHash = await hashPassword(input.password);
    let result: SignedIn;
    try {
      result = await this.deps.db.transaction().execute(async (trx) => {
        await this.#assertSetupAllowed(trx, input.setupToken);
        await insertSetting(trx, SETUP_DONE, String(ctx.now), ctx.now);
        await deleteSetting(trx, SETUP_TOKEN_DIGEST);
        const org = await this.deps.orgs.createOrg(trx, input.orgName.trim(), ctx.now);
        const userId = newId('usr');
        await store.insertUser(trx, { id: userId, email, passwordHash, now: ctx.now });
        await store.insertMembership(trx, { orgId: org.id, userId, role: 'owner', now: ctx.now });
        const session = await this.#createSession(trx, { orgId: org.id, userId }, ctx);
        const audit = { orgId: org.id, actor: { type: 'user' as const, id: userId }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
        await this.deps.audit.record(trx, audit, { action: 'instance.setup', target: { type: 'org', id: org.id, name: org.name }, details: { email } });
        await this.deps.audit.record(trx, audit, { action: 'session.create', target: { type: 'session', id: session.id }, details: { method: 'setup' } });
        return { user: { id: userId, email }, org, session: { token: session.token, expiresAt: session.expiresAt } };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('already_set_up', 'This KeyNest instance is already set up');
      throw err;
    }
    this.#removeSetupTokenFile();
    return result;
  }

  async login(input: { email: string; password: string }, ctx: AnonymousContext): Promise<SignedIn> {
    const email = normalizeEmail(input.email);
    const user = await store.findUserWithMembership(this.deps.db, email);
    // Unknown accounts verify against a dummy hash, so both paths cost one argon2 verification.
    const ok = await verifyPassword(user?.password_hash ?? (await this.#dummy()), input.password);
    if (!user || !ok) {
      await this.deps.audit.recordAlone(
        { orgId: user?.org_id ?? null, actor: { type: 'anonymous', id: null }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now },
        { action: 'session.create', outcome: 'failure', target: { type: 'user', id: user?.id ?? null }, details: { reason: 'invalid_credentials' } },
      );
      throw new AppError('invalid_credentials', 'Invalid credentials');
    }
    const upgraded = needsRehash(user.password_hash) ? await hashPassword(input.password) : null;
    return this.deps.db.transaction().execute(async (trx) => {
      if (upgraded) await store.updatePasswordHash(trx, user.id, upgraded);
      const session = await this.#createSession(trx, { orgId: user.org_id, userId: user.id }, ctx);
      await this.deps.audit.record(
        trx,
        { orgId: user.org_id, actor: { type: 'user', id: user.id }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now },
        { action: 'session.create', target: { type: 'session', id: session.id }, details: { method: 'password', rehashed: upgraded !== null } },
      );
      return {
        user: { id: user.id, email: user.email },
        org: { id: user.org_id, name: user.org_name },
        session: { token: session.token, expiresAt: session.expiresAt },
      };
    });
  }

  async logout(ctx: RequestContext): Promise<void> {
    const p = ctx.principal;
    if (p.type !== 'user') throw new AppError('forbidden', 'Only a signed-in user has a session to end');
    await this.deps.db.transaction().execute(async (trx) => {
      await store.revokeSession(trx, p.orgId, p.sessionId, ctx.now);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'session.revoke', target: { type: 'session', id: p.sessionId }, details: { reason: 'logout' } });
    });
    this.deps.invalidation.publish({ type: 'session.revoked', sessionId: p.sessionId });
  }

  /** The principal behind a session token, or null when it is unknown, revoked or expired. */
  async authenticateSession(token: string, now: number): Promise<UserPrincipal | null> {
    const digest = tokenDigest(token);
    let row = this.#byDigest.get(digest, now);
    if (!row) {
      const epoch = this.#byDigest.epoch;
      row = await store.findSessionByDigest(this.deps.db, digest);
      if (row) this.#byDigest.set(digest, row, now, epoch);
    }
    if (!row || !constantTimeEqual(row.token_digest, digest)) return null;
    if (row.revoked_at !== null || row.expires_at <= now || !isRole(row.role)) return null;
    if (now - row.last_active_at > SESSION_TOUCH_INTERVAL_MS) {
      row.last_active_at = now;
      await store.touchSession(this.deps.db, row.id, now);
    }
    return { type: 'user', orgId: row.org_id, userId: row.user_id, email: row.email, role: row.role, sessionId: row.id };
  }

  async #assertSetupAllowed(db: Db, setupToken: string): Promise<void> {
    if (await getSetting(db, SETUP_DONE)) throw new AppError('already_set_up', 'This KeyNest instance is already set up');
    const stored = await getSetting(db, SETUP_TOKEN_DIGEST);
    if (!stored || !constantTimeEqual(stored.value, tokenDigest(setupToken))) throw new AppError('invalid_setup_token', 'Invalid setup token');
  }

  async #createSession(trx: Db, who: { orgId: string; userId: string }, ctx: AnonymousContext) {
    const token = newToken('ses');
    const id = newId('ses');
    const expiresAt = ctx.now + this.deps.sessionTtlS * 1000;
    await store.insertSession(trx, {
      id,
      orgId: who.orgId,
      userId: who.userId,
      digest: tokenDigest(token),
      now: ctx.now,
      expiresAt,
      ip: ctx.ip,
      userAgent: ctx.userAgent?.slice(0, 512) ?? null,
    });
    return { id, token, expiresAt: new Date(expiresAt).toISOString() };
  }

  #dummy(): Promise<string> {
    return this.#dummyHash;
  }

  #removeSetupTokenFile(): void {
    if (this.deps.setupTokenFile) rmSync(this.deps.setupTokenFile, { force: true });
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
