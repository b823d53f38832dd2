import { createHmac, randomBytes } from 'node:crypto';
import { signedInUser } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import type { Invalidation } from '../cache.js';
import type { SecurityNotices } from './notices.js';
import type { LoginThrottle } from './throttle.js';
import { auditContextOf, type AnonymousContext, type RequestContext } from '../context.js';
import { associatedData, open, seal } from '../crypto/aead.js';
import type { Keyring } from '../crypto/keyring.js';
import { verifyPassword } from '../crypto/passwords.js';
import { AppError } from '../errors.js';
import type { Db } from '../storage/database.js';
import { base32Encode, newTotpSecret, otpauthUri, qrCodes, verifyTotp } from './totp.js';

export const BACKUP_CODE_COUNT = 10;
/** 80 bits each, shown as four groups of four base32 characters. */
const BACKUP_CODE_BYTES = 10;
const ISSUER = 'KeyNest';

export interface Enrolment {
  secret: string;
  uri: string;
  qr: { png: string; svg: string };
}

/** What a sign-in offered as its second factor. */
export interface SecondFactor {
  totp?: string | undefined;
  backupCode?: string | undefined;
}

export type SecondFactorUsed = 'none' | 'totp' | 'backup_code';

/**
 * TOTP two-factor authentication and backup codes. Invariants:
 * - the seed is stored only encrypted (AES-256-GCM under a root-derived key, bound to the user id);
 *   it is shown once, at enrolment, and enrolment takes effect only once a code from it is confirmed;
 * - a TOTP code is accepted once: the step it matched is stored with a compare-and-set, in the
 *   same transaction as the sign-in it allows, so two concurrent uses cannot both pass;
 * - backup codes are shown once, stored as peppered HMAC digests, each usable once;
 * - turning 2FA off or making new backup codes needs the password and a current code.
 */
export class TwoFactorService {
  constructor(
    private readonly deps: {
      db: Db;
      keyring: Keyring;
      audit: AuditService;
      invalidation: Invalidation;
      notices: SecurityNotices;
      throttle: Pick<LoginThrottle, 'recordSuccess'>;
      /** Charges an attempt like a sign-in (IdentityService.admitAttempt). */
      admitAttempt: (email: string, ctx: { ip: string | null; requestId: string; now: number }) => Promise<void>;
      /** Counts and audits a failed re-authentication like a failed sign-in (IdentityService.failedAttempt). */
      failedAttempt: (email: string, who: { orgId: string; userId: string }, reason: string, ctx: AnonymousContext, action: string) => Promise<void>;
    },
  ) {}

  async status(ctx: RequestContext): Promise<{ enabled: boolean; backupCodesRemaining: number }> {
    const { userId } = signedInUser(ctx);
    const row = await this.deps.db.selectFrom('user_totp').select('state').where('user_id', '=', userId).executeTakeFirst();
    return { enabled: row?.state === 'active', backupCodesRemaining: await this.remainingBackupCodes(this.deps.db, userId) };
  }

  /** Starts (or restarts) enrolment: a new seed, pending until `confirm`. */
  async begin(ctx: RequestContext): Promise<Enrolment> {
    const { userId, email } = signedInUser(ctx);
    const secret = newTotpSecret();
    const sealed = seal(this.deps.keyring.purposeKey('totp-seed'), Buffer.from(secret, 'utf8'), seedAad(userId));
    await this.deps.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('user_totp').select('state').where('user_id', '=', userId).executeTakeFirst();
      if (existing?.state === 'active') throw new AppError('two_factor_enabled', 'Two-factor authentication is already on; turn it off first to enrol a new device');
      await trx.deleteFrom('user_totp').where('user_id', '=', userId).execute();
      await trx
        .insertInto('user_totp')
        .values({ user_id: userId, secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, state: 'pending', last_used_step: null, created_at: ctx.now, confirmed_at: null })
        .execute();
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: '2fa.enrol', target: { type: 'user', id: userId } });
    });
    const uri = otpauthUri({ secret, issuer: ISSUER, account: email });
    return { secret, uri, qr: await qrCodes(uri) };
  }

  /** Confirms enrolment with a code from the new device; returns the backup codes (shown once). */
  async confirm(ctx: RequestContext, code: string): Promise<{ backupCodes: string[] }> {
    const { userId } = signedInUser(ctx);
    const result = await this.deps.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('user_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
      if (!row || row.state !== 'pending') {
        throw row ? new AppError('two_factor_enabled', 'Two-factor authentication is already on') : new AppError('two_factor_not_started', 'Start enrolment first');
      }
      const match = verifyTotp(this.#seed(userId, row), code, ctx.now, { lastUsedStep: null });
      if (!match) throw new AppError('invalid_two_factor_code', 'That code is not valid for the new authenticator; check the device clock and try again');
      await trx.updateTable('user_totp').set({ state: 'active', confirmed_at: ctx.now, last_used_step: match.step }).where('user_id', '=', userId).execute();
      const backupCodes = await this.#replaceBackupCodes(trx, userId, ctx.now);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: '2fa.enable', target: { type: 'user', id: userId }, details: { backupCodes: backupCodes.length } });
      return { backupCodes };
    });
    // Sessions held to enrolment by the org policy are released at once.
    this.deps.invalidation.publish({ type: 'user.changed', userId });
    this.deps.notices.send(signedInUser(ctx).email, 'two_factor_enabled', { at: new Date(ctx.now), ip: ctx.ip });
    return result;
  }

  /** Turns 2FA off; needs the password and a current TOTP or backup code. */
  async disable(ctx: RequestContext, proof: { password: string } & SecondFactor): Promise<void> {
    const { userId } = signedInUser(ctx);
    await this.#reauthenticated(ctx, proof, async (trx) => {
      await trx.deleteFrom('user_totp').where('user_id', '=', userId).execute();
      await trx.deleteFrom('backup_codes').where('user_id', '=', userId).execute();
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: '2fa.disable', target: { type: 'user', id: userId } });
    });
    this.deps.invalidation.publish({ type: 'user.changed', userId });
    this.deps.notices.send(signedInUser(ctx).email, 'two_factor_disabled', { at: new Date(ctx.now), ip: ctx.ip });
  }

  /** New backup codes (the old ones stop working); needs the password and a current code. */
  async regenerateBackupCodes(ctx: RequestContext, proof: { password: string } & SecondFactor): Promise<{ backupCodes: string[] }> {
    const { userId } = signedInUser(ctx);
    return this.#reauthenticated(ctx, proof, async (trx) => {
      const backupCodes = await this.#replaceBackupCodes(trx, userId, ctx.now);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: '2fa.backup_codes_regenerated', target: { type: 'user', id: userId }, details: { backupCodes: backupCodes.length } });
      return { backupCodes };
    });
  }

  /**
   * At sign-in, after the password was verified, inside the sign-in's transaction: 'none' when the
   * user has no 2FA; otherwise the factor that was used, or 401 two_factor_required /
   * invalid_two_factor_code.
   */
  async verifyAtSignIn(trx: Db, userId: string, offered: SecondFactor, now: number): Promise<SecondFactorUsed> {
    const row = await trx.selectFrom('user_totp').selectAll().where('user_id', '=', userId).where('state', '=', 'active').executeTakeFirst();
    if (!row) return 'none';
    if (offered.totp === undefined && offered.backupCode === undefined) {
      throw new AppError('two_factor_required', 'This account needs a code from its authenticator app (totp) or a backup code (backupCode)');
    }
    const used = await this.#useSecondFactor(trx, userId, row, offered, now);
    if (!used) throw new AppError('invalid_two_factor_code', 'Invalid two-factor code');
    return used;
  }

  /** Unused backup codes left (for the notice that one was used). */
  async remainingBackupCodes(db: Db, userId: string): Promise<number> {
    const row = await db.selectFrom('backup_codes').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Runs `work` in a transaction once the password and a current code are proven. Throttled and
   * audited like a sign-in: this is as good a place to guess codes as the sign-in form.
   */
  async #reauthenticated<T>(ctx: RequestContext, proof: { password: string } & SecondFactor, work: (trx: Db) => Promise<T>): Promise<T> {
    const { userId, email } = signedInUser(ctx);
    const anon = { ip: ctx.ip, userAgent: null, requestId: ctx.requestId, now: ctx.now };
    // Nothing to prove against when 2FA is off: answered before anything is charged.
    const active = await this.deps.db.selectFrom('user_totp').select('state').where('user_id', '=', userId).where('state', '=', 'active').executeTakeFirst();
    if (!active) throw new AppError('two_factor_not_enabled', 'Two-factor authentication is not on');
    await this.deps.admitAttempt(email, ctx);
    try {
      return await this.deps.db.transaction().execute(async (trx) => {
        await this.#reauthenticate(trx, userId, proof, ctx.now);
        await this.deps.throttle.recordSuccess(trx, email, ctx.ip);
        return work(trx);
      });
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') await this.deps.failedAttempt(email, { orgId: ctx.principal.orgId, userId }, 'wrong_password_or_code', anon, '2fa.reauth');
      throw err;
    }
  }

  async #reauthenticate(trx: Db, userId: string, proof: { password: string } & SecondFactor, now: number): Promise<void> {
    const user = await trx.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow();
    const row = await trx.selectFrom('user_totp').selectAll().where('user_id', '=', userId).where('state', '=', 'active').executeTakeFirst();
    if (!row) throw new AppError('two_factor_not_enabled', 'Two-factor authentication is not on');
    const passwordOk = await verifyPassword(user.password_hash, proof.password);
    // Both are checked, and the answer does not say which one failed.
    const used = passwordOk ? await this.#useSecondFactor(trx, userId, row, proof, now) : null;
    if (!passwordOk || !used) throw new AppError('invalid_credentials', 'Invalid credentials');
  }

  async #useSecondFactor(trx: Db, userId: string, row: TotpRow, offered: SecondFactor, now: number): Promise<SecondFactorUsed | null> {
    if (offered.totp !== undefined) {
      const match = verifyTotp(this.#seed(userId, row), offered.totp, now, { lastUsedStep: row.last_used_step });
      if (!match) return null;
      // Compare-and-set: of two sign-ins racing with the same code, only one moves the step.
      const res = await trx
        .updateTable('user_totp')
        .set({ last_used_step: match.step })
        .where('user_id', '=', userId)
        .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', match.step)]))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1 ? 'totp' : null;
    }
    const digest = this.#codeDigest(offered.backupCode ?? '');
    const res = await trx
      .updateTable('backup_codes')
      .set({ used_at: now })
      .where('code_digest', '=', digest)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1 ? 'backup_code' : null;
  }

  async #replaceBackupCodes(trx: Db, userId: string, now: number): Promise<string[]> {
    await trx.deleteFrom('backup_codes').where('user_id', '=', userId).execute();
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, () => formatCode(base32Encode(randomBytes(BACKUP_CODE_BYTES))));
    await trx
      .insertInto('backup_codes')
      .values(codes.map((c) => ({ code_digest: this.#codeDigest(c), user_id: userId, created_at: now, used_at: null })))
      .execute();
    return codes;
  }

  /** Case, spaces and dashes do not matter when a code is typed back. */
  #codeDigest(code: string): string {
    const canonical = code.replace(/[\s-]/g, '').toUpperCase();
    return createHmac('sha256', this.deps.keyring.purposeKey('backup-code')).update(canonical, 'utf8').digest('hex');
  }

  #seed(userId: string, row: TotpRow): string {
    const plain = open(this.deps.keyring.purposeKey('totp-seed'), { nonce: Buffer.from(row.secret_nonce), ciphertext: Buffer.from(row.secret_ciphertext) }, seedAad(userId));
    return plain.toString('utf8');
  }
}

type TotpRow = { secret_ciphertext: Buffer; secret_nonce: Buffer; last_used_step: number | null };

function seedAad(userId: string): Buffer {
  return associatedData('keynest.totp-seed.v1', userId);
}

function formatCode(raw: string): string {
  return raw.match(/.{1,4}/g)!.join('-');
}
