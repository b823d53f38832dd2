import { signedInUser } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import type { BackgroundWork } from '../background.js';
import { auditContextOf, type AnonymousContext, type RequestContext } from '../context.js';
import { hashPassword } from '../crypto/passwords.js';
import { newToken, tokenDigest, tokenKind } from '../crypto/random.js';
import type { Mailer } from '../email/mailer.js';
import { composeMail } from '../email/templates.js';
import { AppError } from '../errors.js';
import type { Db } from '../storage/database.js';
import type { IdentityService } from './service.js';
import type { SessionService } from './sessions.js';
import * as store from './store.js';
import type { LoginThrottle } from './throttle.js';
import type { SecurityNotices } from './notices.js';

export const RESET_TTL_MS = 30 * 60 * 1000;
export const VERIFICATION_TTL_MS = 24 * 3600 * 1000;

/**
 * Password reset and email verification by single-use links. Invariants:
 * - a link's token is mailed once and stored only as its SHA-256 digest; it works once, before it
 *   expires (30 min for a reset, 24 h for a verification), and a newer link voids older ones;
 * - asking for a reset answers the same, at once, whether or not the email has an account: the
 *   lookup, the token and the mail happen after the answer (no enumeration by answer or timing);
 * - a reset ends every session of the user and clears the sign-in lock; 2FA stays on.
 */
export class AccountRecovery {
  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      identity: Pick<IdentityService, 'assertAcceptablePassword'>;
      sessions: Pick<SessionService, 'announceRevoked'>;
      throttle: Pick<LoginThrottle, 'admitRequest' | 'clearLock'>;
      mailer: Mailer;
      notices: SecurityNotices;
      /** Where the lookup and mail behind a reset request run, after the answer. */
      background: BackgroundWork;
      publicUrl: string;
    },
  ) {}

  /** Answers nothing about the account; the work happens after the caller has its answer. */
  async requestReset(email: string, ctx: AnonymousContext): Promise<void> {
    await this.deps.throttle.admitRequest('reset', email, ctx.ip);
    this.deps.background.run('password reset request', ctx.requestId, () => this.#sendReset(email, ctx));
  }

  async confirmReset(input: { token: string; newPassword: string }, ctx: AnonymousContext): Promise<void> {
    await this.deps.throttle.admitRequest('reset-confirm', '', ctx.ip);
    const row = await this.#liveToken(input.token, 'rst', 'password_reset', ctx.now);
    const { email } = await this.deps.db.selectFrom('users').select('email').where('id', '=', row.user_id).executeTakeFirstOrThrow();
    const user = await store.findAccount(this.deps.db, email);
    if (!user) throw new AppError('invalid_reset_token', 'This link is invalid, used or expired; ask for a new one');
    // An account in no org (a removed member) gets the deployment's policy.
    await this.deps.identity.assertAcceptablePassword(input.newPassword, { email, ...(user.org_name ? { orgName: user.org_name } : {}) }, user.org_id);
    const passwordHash = await hashPassword(input.newPassword);
    const ended = await this.deps.db.transaction().execute(async (trx) => {
      await this.#use(trx, row.token_digest, 'invalid_reset_token', ctx.now);
      await store.updatePasswordHash(trx, user.id, passwordHash);
      const live = await trx.selectFrom('sessions').select('id').where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
      if (live.length > 0) await trx.updateTable('sessions').set({ revoked_at: ctx.now }).where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
      await this.deps.throttle.clearLock(trx, email);
      const who = { orgId: user.org_id, actor: { type: 'user' as const, id: user.id }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
      await this.deps.audit.record(trx, who, { action: 'password.reset', target: { type: 'user', id: user.id }, details: { sessionsEnded: live.length } });
      return live.map((s) => s.id);
    });
    this.deps.sessions.announceRevoked(ended);
    this.deps.notices.send(user.email, 'password_changed', { at: new Date(ctx.now), ip: ctx.ip });
  }

  /** Mails the signed-in user a link (and code) proving they own their address. */
  async requestVerification(ctx: RequestContext): Promise<void> {
    const p = signedInUser(ctx);
    await this.deps.throttle.admitRequest('verify', p.email, ctx.ip);
    const token = await this.deps.db.transaction().execute(async (trx) => {
      const t = await this.#issue(trx, p.userId, 'vfy', 'email_verification', ctx.now, VERIFICATION_TTL_MS);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'email.verification_requested', target: { type: 'user', id: p.userId } });
      return t;
    });
    const link = `${this.deps.publicUrl}/verify-email?token=${token}`;
    // Not awaited, like every mail: a slow or failing server must not turn the request into a 500
    // (the mailer logs a failure without the mail's content; the user can ask again).
    this.deps.mailer.send(composeMail(p.email, 'email_verification', { link, code: token, expiresInHours: VERIFICATION_TTL_MS / 3_600_000 })).catch(() => {});
  }

  async verifyEmail(token: string, ctx: AnonymousContext): Promise<void> {
    await this.deps.throttle.admitRequest('verify-confirm', '', ctx.ip);
    const row = await this.#liveToken(token, 'vfy', 'email_verification', ctx.now);
    const { email } = await this.deps.db.selectFrom('users').select('email').where('id', '=', row.user_id).executeTakeFirstOrThrow();
    const orgId = (await store.findAccount(this.deps.db, email))?.org_id ?? null;
    await this.deps.db.transaction().execute(async (trx) => {
      await this.#use(trx, row.token_digest, 'invalid_verification_token', ctx.now);
      await trx.updateTable('users').set({ email_verified_at: ctx.now }).where('id', '=', row.user_id).execute();
      const who = { orgId, actor: { type: 'user' as const, id: row.user_id }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
      await this.deps.audit.record(trx, who, { action: 'email.verified', target: { type: 'user', id: row.user_id } });
    });
  }

  async #sendReset(email: string, ctx: AnonymousContext): Promise<void> {
    const user = await store.findAccount(this.deps.db, email);
    if (!user) return;
    const token = await this.deps.db.transaction().execute(async (trx) => {
      const t = await this.#issue(trx, user.id, 'rst', 'password_reset', ctx.now, RESET_TTL_MS);
      const who = { orgId: user.org_id, actor: { type: 'anonymous' as const, id: null }, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
      await this.deps.audit.record(trx, who, { action: 'password.reset_requested', target: { type: 'user', id: user.id } });
      return t;
    });
    const link = `${this.deps.publicUrl}/reset-password?token=${token}`;
    await this.deps.mailer.send(composeMail(user.email, 'password_reset', { link, expiresInMinutes: RESET_TTL_MS / 60_000 }));
  }

  /** A new link voids the user's older ones for the same purpose. */
  async #issue(trx: Db, userId: string, kind: 'rst' | 'vfy', purpose: 'password_reset' | 'email_verification', now: number, ttlMs: number): Promise<string> {
    await store.voidUserTokens(trx, userId, purpose, now);
    const token = newToken(kind);
    await trx.insertInto('user_tokens').values({ token_digest: tokenDigest(token), user_id: userId, purpose, created_at: now, expires_at: now + ttlMs, used_at: null }).execute();
    return token;
  }

  async #liveToken(token: string, kind: 'rst' | 'vfy', purpose: 'password_reset' | 'email_verification', now: number) {
    const code = purpose === 'password_reset' ? 'invalid_reset_token' : 'invalid_verification_token';
    const refused = new AppError(code, 'This link is invalid, used or expired; ask for a new one');
    if (tokenKind(token) !== kind) throw refused;
    const row = await this.deps.db
      .selectFrom('user_tokens')
      .selectAll()
      .where('token_digest', '=', tokenDigest(token))
      .where('purpose', '=', purpose)
      .executeTakeFirst();
    if (!row || row.used_at !== null || row.expires_at <= now) throw refused;
    return row;
  }

  /** Compare-and-set: of two uses racing, only one wins. */
  async #use(trx: Db, digest: string, code: 'invalid_reset_token' | 'invalid_verification_token', now: number): Promise<void> {
    const res = await trx.updateTable('user_tokens').set({ used_at: now }).where('token_digest', '=', digest).where('used_at', 'is', null).executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new AppError(code, 'This link is invalid, used or expired; ask for a new one');
  }
}
