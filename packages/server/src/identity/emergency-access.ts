import type { AuditContext, AuditService } from '../audit/service.js';
import type { BackgroundWork } from '../background.js';
import { iso, type AnonymousContext } from '../context.js';
import { constantTimeEqual, newToken, tokenDigest, tokenKind } from '../crypto/random.js';
import type { Mailer } from '../email/mailer.js';
import { composeMail } from '../email/templates.js';
import { AppError } from '../errors.js';
import * as store from '../orgs/allowlist-store.js';
import type { IpAllowlist } from '../orgs/allowlist.js';
import type { Db } from '../storage/database.js';
import type { LoginThrottle } from './throttle.js';

export const EMERGENCY_CODE_TTL_MS = 15 * 60 * 1000;

export interface EmergencyGrant {
  ip: string;
  expiresAt: string;
  orgs: { id: string; name: string }[];
}

/**
 * Emergency access for an owner shut out by their own org's IP allowlist. Invariants:
 * - asking answers the same, at once, whatever the email (no account, not an owner, no allowlist
 *   on): the lookup, the code and the mail happen after the answer, in the background;
 * - the code is mailed once, stored only as its SHA-256 digest, works once, within 15 minutes, and
 *   a newer one voids older ones; confirming is rate-limited per address and per email, and a wrong
 *   code, a wrong email and a used one are answered alike (401 invalid_emergency_code);
 * - a code admits only the owner it was mailed to, only from the address that confirmed it, only
 *   in orgs where they are an owner and the allowlist is on at that moment, for
 *   KEYNEST_EMERGENCY_ACCESS_S; other members and API tokens gain nothing;
 * - request, grant and refusal are audited in each org concerned (never the code), and both mails
 *   tell the owner, so someone else trying is noticed.
 */
export class EmergencyAccess {
  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditService;
      throttle: Pick<LoginThrottle, 'admitRequest'>;
      mailer: Mailer;
      background: BackgroundWork;
      allowlist: Pick<IpAllowlist, 'announce'>;
      allowanceMs: number;
    },
  ) {}

  async request(email: string, ctx: AnonymousContext): Promise<void> {
    await this.deps.throttle.admitRequest('emergency-access', email, ctx.ip);
    this.deps.background.run('emergency access request', ctx.requestId, () => this.#sendCode(email, ctx));
  }

  async confirm(input: { email: string; code: string }, ctx: AnonymousContext): Promise<EmergencyGrant> {
    await this.deps.throttle.admitRequest('emergency-access-confirm', input.email, ctx.ip);
    const refused = new AppError('invalid_emergency_code', 'This code is invalid, used or expired, or not for this email; ask for a new one');
    // Without a client address there is nothing to let in.
    if (tokenKind(input.code) !== 'eac' || ctx.ip === null) throw refused;
    const ip = ctx.ip;
    const user = await store.findUserByEmail(this.deps.db, input.email);
    const digest = tokenDigest(input.code);
    const live = user ? await store.listLiveCodes(this.deps.db, user.id, ctx.now) : [];
    const match = live.find((c) => constantTimeEqual(c.code_digest, digest));
    if (!user || !match) {
      if (user) this.deps.background.run('emergency access refusal audit', ctx.requestId, () => this.#auditRefusal(user.id, ctx));
      throw refused;
    }
    const expiresAt = ctx.now + this.deps.allowanceMs;
    const orgs = await this.deps.db.transaction().execute(async (trx) => {
      // Read again at the moment of use: the user may have stopped being an owner, or the list gone off.
      const owned = await store.findOwnedAllowlistedOrgs(trx, user.id);
      if (owned.length === 0 || !(await store.useCode(trx, match.code_digest, ctx.now))) throw refused;
      for (const org of owned) {
        await store.upsertAllowance(trx, { orgId: org.id, userId: user.id, ip, now: ctx.now, expiresAt });
        await this.deps.audit.record(trx, this.#who(org.id, ctx, user.id), {
          action: 'org.allowlist.emergency_access_granted',
          target: { type: 'user', id: user.id },
          details: { allowedIp: ip, expiresAt: iso(expiresAt) },
        });
      }
      return owned;
    });
    for (const org of orgs) this.deps.allowlist.announce(org.id);
    const notice = composeMail(user.email, 'emergency_access_granted', { at: new Date(ctx.now), ip, orgNames: orgs.map((o) => o.name), until: new Date(expiresAt) });
    this.deps.mailer.send(notice).catch(() => {
      // Logged by the mailer without the content; the grant stands (it is in the audit log).
    });
    return { ip, expiresAt: iso(expiresAt), orgs };
  }

  async #sendCode(email: string, ctx: AnonymousContext): Promise<void> {
    const user = await store.findUserByEmail(this.deps.db, email);
    if (!user) return;
    const code = newToken('eac');
    const orgs = await this.deps.db.transaction().execute(async (trx) => {
      const owned = await store.findOwnedAllowlistedOrgs(trx, user.id);
      if (owned.length === 0) return owned;
      await store.insertCode(trx, { digest: tokenDigest(code), userId: user.id, now: ctx.now, expiresAt: ctx.now + EMERGENCY_CODE_TTL_MS });
      for (const org of owned) {
        await this.deps.audit.record(trx, this.#who(org.id, ctx, null), { action: 'org.allowlist.emergency_access_requested', target: { type: 'user', id: user.id } });
      }
      return owned;
    });
    if (orgs.length === 0) return;
    await this.deps.mailer.send(
      composeMail(user.email, 'emergency_access_code', {
        at: new Date(ctx.now),
        ip: ctx.ip,
        orgNames: orgs.map((o) => o.name),
        code,
        expiresInMinutes: EMERGENCY_CODE_TTL_MS / 60_000,
        allowanceMinutes: Math.round(this.deps.allowanceMs / 60_000),
      }),
    );
  }

  async #auditRefusal(userId: string, ctx: AnonymousContext): Promise<void> {
    for (const org of await store.findOwnedAllowlistedOrgs(this.deps.db, userId)) {
      await this.deps.audit.recordAlone(this.#who(org.id, ctx, null), { action: 'org.allowlist.emergency_access_refused', outcome: 'failure', target: { type: 'user', id: userId } });
    }
  }

  #who(orgId: string, ctx: AnonymousContext, userId: string | null): AuditContext {
    const actor = userId === null ? { type: 'anonymous' as const, id: null } : { type: 'user' as const, id: userId };
    return { orgId, actor, ip: ctx.ip, requestId: ctx.requestId, now: ctx.now };
  }
}
