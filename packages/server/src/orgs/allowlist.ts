import { actorOf, type Principal } from '../access/principal.js';
import { anyRangeIncludes, formatRange, parseAddress, parseRange, type IpRange } from '../access/ip-ranges.js';
import type { AuditService } from '../audit/service.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import { auditContextOf, iso, type RequestContext } from '../context.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/database.js';
import * as store from './allowlist-store.js';

export const MAX_ALLOWLIST_ENTRIES = 500;

export interface AllowlistView {
  enabled: boolean;
  entries: { cidr: string; label: string | null; createdAt: string }[];
  /** The address this request came from, as the server sees it (after KEYNEST_TRUST_PROXY). */
  yourIp: string | null;
  /** Whether the list admits `yourIp` (emergency allowances aside). */
  yourIpAllowed: boolean;
}

/** What the hot path keeps per org: the list compiled to integers, and the live allowances. */
interface Compiled {
  orgId: string;
  enabled: boolean;
  ranges: IpRange[];
  allowances: { userId: string; ip: string; expiresAt: number }[];
}

/** Why a request was let in: no list, on the list, or by an owner's emergency allowance. */
export type Admission = 'open' | 'listed' | 'emergency';

/**
 * The per-org IP allowlist. Invariants:
 * - while it is on, every session and API token of the org is refused (403 ip_not_allowed) from an
 *   address outside it, on every authenticated route (the settings that hold the list included):
 *   the check runs in the access hook right after authentication, before any permission;
 * - it cannot be on and empty, and a change that would shut out the address of the admin making
 *   it is refused (409 allowlist_locks_you_out) unless they confirm it (`confirmLockout`);
 * - the only way past it is an emergency allowance (identity/emergency-access.ts): for the owner
 *   who earned it, from the address they earned it on, until it expires; every use is audited;
 * - every change commits with its audit record (the list before and after) and is announced
 *   (`org.changed`) so the compiled list cached here is dropped at once; the cache bounds how long
 *   another instance may use the old list to HOT_CACHE_TTL_MS;
 * - an unknown client address (no socket address) is never on the list: deny by default.
 */
export class IpAllowlist {
  readonly #compiled = new TtlCache<string, Compiled>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(private readonly deps: { db: Db; audit: AuditService; invalidation: Invalidation; log: Logger }) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'org.changed') this.#compiled.deleteWhere((c) => c.orgId === e.orgId);
    });
  }

  /**
   * The common case decided without a promise (the hot path pays for every await): the org's list,
   * as cached, is off or admits the address. False means "ask `enforce`", not "refused".
   */
  admitsAtOnce(principal: Principal, ip: string | null, now: number): boolean {
    const c = this.#compiled.get(principal.orgId, now);
    return c !== undefined && (!c.enabled || anyRangeIncludes(c.ranges, ip));
  }

  /** Throws 403 ip_not_allowed unless the org's allowlist (or an allowance) admits the request. */
  async enforce(principal: Principal, req: { ip: string | null; requestId: string; now: number }): Promise<Admission> {
    const admission = await this.admission(principal, req.ip, req.now);
    const ctx = { orgId: principal.orgId, actor: actorOf(principal), ip: req.ip, requestId: req.requestId, now: req.now };
    if (admission === 'emergency') {
      // Awaited: a request that cannot be recorded is not let past the list (fail closed).
      await this.deps.audit.recordAlone(ctx, { action: 'org.allowlist.emergency_access_used', target: { type: 'org', id: principal.orgId } });
      return admission;
    }
    if (admission !== null) return admission;
    await this.deps.audit
      .recordAlone(ctx, { action: 'org.allowlist.refused', outcome: 'failure', target: { type: 'org', id: principal.orgId } })
      // The answer is no either way; a lost record must not turn it into a 500.
      .catch((err: unknown) => this.deps.log.warn({ err, requestId: req.requestId }, 'allowlist refusal not audited'));
    this.deps.log.info({ requestId: req.requestId, orgId: principal.orgId, principal: principal.type }, 'request refused by the IP allowlist');
    throw new AppError('ip_not_allowed', 'Your organization does not allow access from this address (IP allowlist); an owner may ask for emergency access');
  }

  async admission(principal: Principal, ip: string | null, now: number): Promise<Admission | null> {
    const c = await this.#load(principal.orgId, now);
    if (!c.enabled) return 'open';
    if (anyRangeIncludes(c.ranges, ip)) return 'listed';
    if (principal.type === 'user' && ip !== null && c.allowances.some((a) => a.userId === principal.userId && a.ip === canonicalIp(ip) && a.expiresAt > now)) return 'emergency';
    return null;
  }

  async view(ctx: RequestContext): Promise<AllowlistView> {
    return this.#viewOf(this.deps.db, ctx);
  }

  async addEntry(ctx: RequestContext, input: { cidr: string; label?: string | null }): Promise<AllowlistView> {
    const cidr = canonicalRange(input.cidr);
    const label = input.label?.trim() || null;
    return this.#change(ctx, async (trx, before) => {
      if (before.entries.some((e) => e.cidr === cidr)) throw new AppError('allowlist_entry_exists', `${cidr} is already on the allowlist`);
      if (before.entries.length >= MAX_ALLOWLIST_ENTRIES) throw new AppError('validation_failed', `An allowlist holds at most ${MAX_ALLOWLIST_ENTRIES} entries`, [{ path: '/cidr', rule: 'maxItems' }]);
      await store.insertEntry(trx, { orgId: ctx.principal.orgId, cidr, label, createdBy: actorOf(ctx.principal).id, now: ctx.now });
      return { action: 'org.allowlist.entry_added', details: { cidr, label } };
    });
  }

  async removeEntry(ctx: RequestContext, input: { cidr: string; confirmLockout?: boolean }): Promise<AllowlistView> {
    const cidr = canonicalRange(input.cidr);
    return this.#change(ctx, async (trx, before) => {
      if (!before.entries.some((e) => e.cidr === cidr)) throw new AppError('allowlist_entry_not_found', `${cidr} is not on the allowlist`);
      const after = before.entries.filter((e) => e.cidr !== cidr).map((e) => e.cidr);
      if (before.enabled) this.#assertSafe(after, ctx.ip, input.confirmLockout === true, 'Removing it');
      await store.deleteEntry(trx, ctx.principal.orgId, cidr);
      return { action: 'org.allowlist.entry_removed', details: { cidr, confirmedLockout: input.confirmLockout === true } };
    });
  }

  async setEnabled(ctx: RequestContext, input: { enabled: boolean; confirmLockout?: boolean }): Promise<AllowlistView> {
    return this.#change(ctx, async (trx, before) => {
      if (before.enabled === input.enabled) return null;
      if (input.enabled) this.#assertSafe(before.entries.map((e) => e.cidr), ctx.ip, input.confirmLockout === true, 'Turning it on');
      await store.setEnabled(trx, ctx.principal.orgId, input.enabled, ctx.now);
      return { action: input.enabled ? 'org.allowlist.enabled' : 'org.allowlist.disabled', details: { confirmedLockout: input.confirmLockout === true } };
    });
  }

  /** Drops the org's compiled list everywhere (an allowance was granted). */
  announce(orgId: string): void {
    this.deps.invalidation.publish({ type: 'org.changed', orgId });
  }

  /**
   * One change: the org's allowlist row is written first (an upsert), so concurrent changes of one
   * org take turns on PostgreSQL too, and each sees the list the previous one left. The audit
   * record holds the list and switch before and after, in the same transaction.
   */
  async #change(
    ctx: RequestContext,
    apply: (trx: Db, before: { enabled: boolean; entries: store.AllowlistEntryRow[] }) => Promise<{ action: string; details: Record<string, string | boolean | null> } | null>,
  ): Promise<AllowlistView> {
    const orgId = ctx.principal.orgId;
    const view = await this.deps.db.transaction().execute(async (trx) => {
      const enabled = await store.findEnabled(trx, orgId);
      await store.setEnabled(trx, orgId, enabled, ctx.now);
      const entries = await store.listEntries(trx, orgId);
      const change = await apply(trx, { enabled, entries });
      const after = await this.#viewOf(trx, ctx);
      if (change) {
        await this.deps.audit.record(trx, auditContextOf(ctx), {
          action: change.action,
          target: { type: 'org', id: orgId },
          details: {
            ...change.details,
            enabledBefore: enabled,
            enabledAfter: after.enabled,
            entriesBefore: entries.map((e) => e.cidr),
            entriesAfter: after.entries.map((e) => e.cidr),
          },
        });
      }
      return after;
    });
    this.announce(orgId);
    return view;
  }

  #assertSafe(cidrs: string[], ip: string | null, confirmed: boolean, what: string): void {
    if (cidrs.length === 0) throw new AppError('allowlist_empty', `${what} would leave the allowlist on and empty, which admits nobody: add an entry or turn the allowlist off first`);
    const ranges = cidrs.map(compile);
    if (!confirmed && !anyRangeIncludes(ranges, ip)) {
      throw new AppError('allowlist_locks_you_out', `${what} would lock out the address you are using (${ip ?? 'unknown'}): add it first, or repeat with confirmLockout: true`, { yourIp: ip });
    }
  }

  async #viewOf(db: Db, ctx: RequestContext): Promise<AllowlistView> {
    const orgId = ctx.principal.orgId;
    const enabled = await store.findEnabled(db, orgId);
    const entries = await store.listEntries(db, orgId);
    return {
      enabled,
      entries: entries.map((e) => ({ cidr: e.cidr, label: e.label, createdAt: iso(e.created_at) })),
      yourIp: ctx.ip,
      yourIpAllowed: anyRangeIncludes(entries.map((e) => compile(e.cidr)), ctx.ip),
    };
  }

  async #load(orgId: string, now: number): Promise<Compiled> {
    const hit = this.#compiled.get(orgId, now);
    if (hit) return hit;
    const epoch = this.#compiled.epoch;
    const enabled = await store.findEnabled(this.deps.db, orgId);
    const compiled: Compiled = { orgId, enabled, ranges: [], allowances: [] };
    if (enabled) {
      compiled.ranges = (await store.listEntries(this.deps.db, orgId)).map((e) => compile(e.cidr));
      compiled.allowances = (await store.listLiveAllowances(this.deps.db, orgId, now)).map((a) => ({ userId: a.user_id, ip: canonicalIp(a.ip), expiresAt: a.expires_at }));
    }
    this.#compiled.set(orgId, compiled, now, epoch);
    return compiled;
  }
}

/** A range as the client wrote it, in canonical form; 400 invalid_ip_range otherwise. */
export function canonicalRange(text: string): string {
  const parsed = parseRange(text);
  if ('range' in parsed) return formatRange(parsed.range);
  const why = {
    not_an_address: 'is not an IPv4 or IPv6 address or CIDR range',
    bad_prefix: 'has a prefix length out of range (0-32 for IPv4, 0-128 for IPv6)',
    host_bits_set: `has bits set past its prefix${parsed.suggestion ? `: did you mean ${parsed.suggestion}?` : ''}`,
  }[parsed.problem];
  throw new AppError('invalid_ip_range', `The range ${why}`, [{ path: '/cidr', rule: parsed.problem, ...(parsed.suggestion ? { suggestion: parsed.suggestion } : {}) }]);
}

/** Stored entries are canonical already; a row that no longer parses admits nothing. */
function compile(cidr: string): IpRange {
  const parsed = parseRange(cidr);
  return 'range' in parsed ? parsed.range : { family: 6, network: -1n, prefix: 128 };
}

/** Allowances are stored as `req.ip` gave them; compared in one spelling (mapped IPv4 as IPv4). */
function canonicalIp(ip: string): string {
  const a = parseAddress(ip);
  return a ? `${a.family}:${a.value}` : `?:${ip}`;
}
