import type { SecurityAlert } from '@keynest/sdk';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { StoredAuditRow } from '../audit/store.js';
import type { Clock, RequestContext } from '../context.js';
import { auditContextOf } from '../context.js';
import { newId } from '../crypto/random.js';
import type { Mailer } from '../email/mailer.js';
import { composeMail } from '../email/templates.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/database.js';
import type { Tenancy } from '../storage/tenancy.js';
import { ALERT_RULE_IDS, ALERT_RULES, changedRule, defaultRule, isAlertRule, mayFire, type AlertRule, type AlertRuleChange, type AlertRuleId } from './rules.js';
import * as store from './store.js';
import { SlidingWindows } from './windows.js';

/** The alert engine's name among the audit stream's consumers (its cursor, its status). */
export const ALERTS_CONSUMER = 'instance-alerts';

export type AlertDetail = string | number | boolean | null;

/** One alert as the API shows it (the SDK's shape). */
export type AlertView = SecurityAlert & { rule: AlertRuleId; details: Record<string, AlertDetail> };

/** A rule that matched a record. */
interface Firing {
  orgId: string;
  rule: AlertRuleId;
  subject: string;
  summary: string;
  details: Record<string, AlertDetail>;
  at: number;
  ip: string | null;
  auditId: number;
}

/** Also told of every new (not de-duplicated) alert, after it committed: the org's webhooks. */
export interface AlertListener {
  alertFired(orgId: string, alert: AlertView): Promise<void>;
}

/**
 * Security alerts (issue 5). Rules (alerts/rules.ts) are evaluated on the audit stream: `consume`
 * takes committed records in order, as an audit sink does. Invariants:
 * - an alert is stored, and recorded in the audit log (`alert.fire`), in one transaction; it is
 *   mailed to the org's owners and admins and told to the listeners only after that commits;
 * - alerts are de-duplicated per (org, rule, subject): a repeat within `dedupeMs` of the last one
 *   bumps its count and time instead of notifying again;
 * - alerts look at an org's own records only (instance events, such as sign-ins to unknown
 *   accounts, belong to no org), and never at `alert.*` records (an alert cannot set itself off);
 * - what an alert says is metadata the audit record already holds: names, counts, addresses.
 */
export class AlertService {
  readonly #windows = new SlidingWindows();

  constructor(
    private readonly deps: {
      db: Db;
      tenancy: Pick<Tenancy, 'runAsOrg'>;
      audit: AuditService;
      mailer: Mailer;
      log: Logger;
      clock: Clock;
      dedupeMs: number;
      listeners?: AlertListener[];
    },
  ) {}

  /** Evaluates committed audit records, in the order they were written. */
  async consume(records: readonly StoredAuditRow[]): Promise<void> {
    const rules = new Map<string, Map<AlertRuleId, AlertRule>>();
    for (const record of records) {
      const orgId = record.org_id;
      if (orgId === null || !mayFire(record.action)) continue;
      await this.deps.tenancy.runAsOrg(orgId, async () => {
        let own = rules.get(orgId);
        if (!own) rules.set(orgId, (own = await this.#rulesOf(orgId)));
        for (const firing of await this.#evaluate(record, orgId, own)) await this.#fire(firing);
      });
    }
  }

  async rules(orgId: string): Promise<AlertRule[]> {
    return [...(await this.#rulesOf(orgId)).values()];
  }

  async changeRule(ctx: RequestContext, rule: string, change: AlertRuleChange): Promise<AlertRule> {
    if (!isAlertRule(rule)) throw new AppError('alert_rule_not_found', `No alert rule named ${rule}`);
    const orgId = ctx.principal.orgId;
    return this.deps.db.transaction().execute(async (trx) => {
      const before = (await this.#rulesOf(orgId, trx)).get(rule)!;
      const after = changedRule(before, change);
      await store.putRuleSetting(trx, { org_id: orgId, rule, enabled: after.enabled ? 1 : 0, threshold: after.threshold, window_s: after.windowS, updated_at: ctx.now, updated_by: ctx.principal.type === 'user' ? ctx.principal.userId : null });
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'alert.rule_update',
        target: { type: 'alert_rule', id: rule, name: rule },
        details: { enabledBefore: before.enabled, enabled: after.enabled, thresholdBefore: before.threshold, threshold: after.threshold, windowSBefore: before.windowS, windowS: after.windowS },
      });
      return after;
    });
  }

  async list(orgId: string, opts: { since?: number; rule?: string; limit: number }): Promise<AlertView[]> {
    return (await store.listAlerts(this.deps.db, orgId, opts)).map(viewOf);
  }

  async #rulesOf(orgId: string, db: Db = this.deps.db): Promise<Map<AlertRuleId, AlertRule>> {
    const rules = new Map(ALERT_RULE_IDS.map((id) => [id, defaultRule(id)]));
    for (const s of await store.ruleSettings(db, orgId)) {
      if (!isAlertRule(s.rule)) continue;
      const d = ALERT_RULES[s.rule];
      rules.set(s.rule, { ...defaultRule(s.rule), enabled: s.enabled === 1, threshold: d.threshold === null ? null : (s.threshold ?? d.threshold), windowS: d.windowS === null ? null : (s.window_s ?? d.windowS), custom: true });
    }
    return rules;
  }

  async #evaluate(r: StoredAuditRow, orgId: string, rules: Map<AlertRuleId, AlertRule>): Promise<Firing[]> {
    const at = Number(r.at);
    const base = { orgId, at, ip: r.ip, auditId: Number(r.id) };
    const on = (rule: AlertRuleId) => rules.get(rule)!.enabled;
    const out: Firing[] = [];
    const counted = (rule: AlertRuleId, key: string, subject: string, what: (n: number, window: string) => string, extra: Record<string, AlertDetail> = {}) => {
      const { threshold, windowS } = rules.get(rule)!;
      // Counted even when the rule is off, so turning it on sees the window as it is.
      const n = this.#windows.hit(`${rule}\u0000${key}`, at, windowS! * 1000);
      if (on(rule) && n > threshold!) out.push({ ...base, rule, subject, summary: what(n, duration(windowS!)), details: { count: n, threshold: threshold!, windowS: windowS!, ...extra } });
    };
    const actor = r.actor_name ?? r.actor_id ?? r.actor_type;

    if (r.action === 'session.create' && r.outcome === 'failure') {
      counted('failed_sign_ins', orgId, 'org', (n, w) => `${n} failed sign-ins within ${w}`, { lastIp: r.ip });
      if (r.ip !== null) counted('failed_sign_ins_ip', `${orgId}\u0000${r.ip}`, r.ip, (n, w) => `${n} failed sign-ins from ${r.ip} within ${w}`, { ip: r.ip });
    } else if (r.action === 'access.denied') {
      counted('permission_denials', orgId, 'org', (n, w) => `${n} refused requests within ${w}`, { lastActor: actor });
    } else if (r.action === 'account.lock' && on('lockout')) {
      const email = r.target_id ? await store.userEmail(this.deps.db, r.target_id) : null;
      out.push({ ...base, rule: 'lockout', subject: r.target_id ?? 'unknown', summary: `Account ${email ?? r.target_id ?? '(unknown)'} locked after failed sign-ins`, details: { userId: r.target_id, email, ip: r.ip } });
    } else if (r.action === 'token.create' && on('admin_token_created') && detailsOf(r).type === 'admin') {
      out.push({ ...base, rule: 'admin_token_created', subject: r.target_id ?? 'unknown', summary: `Admin API token "${r.target_name}" created by ${actor}`, details: { tokenId: r.target_id, tokenName: r.target_name, by: actor } });
    } else if (r.action === '2fa.disable' && on('admin_2fa_disabled') && r.target_id) {
      const role = await store.memberRole(this.deps.db, orgId, r.target_id);
      if (role === 'owner' || role === 'admin') out.push({ ...base, rule: 'admin_2fa_disabled', subject: r.target_id, summary: `Two-factor authentication turned off for ${role} ${actor}`, details: { userId: r.target_id, role, by: actor } });
    } else if (r.action.startsWith('org.allowlist.') && on('allowlist_changed')) {
      out.push({ ...base, rule: 'allowlist_changed', subject: 'allowlist', summary: `IP allowlist changed by ${actor} (${r.action.slice('org.allowlist.'.length)})`, details: { change: r.action, by: actor } });
    } else if (r.action === 'session.create' && r.outcome === 'success' && r.target_id && r.actor_id) {
      const fired = await this.#newCountry(r, orgId, r.actor_id, r.target_id, on('new_country'));
      if (fired) out.push({ ...base, rule: 'new_country', subject: `${r.actor_id}:${fired.code}`, summary: `${actor} signed in from ${fired.name} for the first time`, details: { userId: r.actor_id, countryCode: fired.code, country: fired.name } });
    }
    return out;
  }

  /**
   * The country of this sign-in, if the member never signed in from it before. The first country
   * seen for a member is where they start, not news; countries are learned whether or not the rule is on.
   */
  async #newCountry(r: StoredAuditRow, orgId: string, userId: string, sessionId: string, alerting: boolean): Promise<{ code: string; name: string } | null> {
    const { db } = this.deps;
    const country = await store.sessionCountry(db, sessionId);
    if (!country) return null;
    const known = await store.knownCountries(db, orgId, userId);
    if (known.includes(country.code)) return null;
    await store.addCountry(db, { org_id: orgId, user_id: userId, country_code: country.code, first_at: Number(r.at) });
    return alerting && known.length > 0 ? country : null;
  }

  async #fire(f: Firing): Promise<void> {
    const { db, audit, dedupeMs } = this.deps;
    const fresh = await db.transaction().execute(async (trx) => {
      const open = dedupeMs > 0 ? await store.openAlert(trx, f.orgId, f.rule, f.subject, f.at - dedupeMs) : undefined;
      if (open) {
        await store.bumpAlert(trx, open.id, Math.max(f.at, Number(open.last_at)));
        return null;
      }
      const row = { id: newId('alr'), org_id: f.orgId, rule: f.rule, subject: f.subject, summary: f.summary, details: JSON.stringify(f.details), first_at: f.at, last_at: f.at, count: 1, audit_id: f.auditId };
      await store.insertAlert(trx, row);
      const system: AuditContext = { orgId: f.orgId, actor: { type: 'system', id: null, name: 'alerts' }, ip: null, requestId: null, now: this.deps.clock() };
      await audit.record(trx, system, { action: 'alert.fire', target: { type: 'alert', id: row.id, name: f.rule }, details: { rule: f.rule, subject: f.subject, auditId: f.auditId } });
      return viewOf(row);
    });
    if (fresh) await this.#notify(f, fresh);
  }

  /** Mail and listeners; a failure is logged (without the alert's content) and never undoes the alert. */
  async #notify(f: Firing, alert: AlertView): Promise<void> {
    const { db, mailer, log, listeners = [] } = this.deps;
    const [to, orgName] = await Promise.all([store.adminEmails(db, f.orgId), store.orgName(db, f.orgId)]);
    const params = { orgName, rule: f.rule, description: ALERT_RULES[f.rule].description, summary: f.summary, at: new Date(f.at), ip: f.ip };
    await Promise.all([
      ...to.map((email) => mailer.send(composeMail(email, 'security_alert', params)).catch(() => {})),
      ...listeners.map((l) => l.alertFired(f.orgId, alert).catch((err: unknown) => log.warn({ alertId: alert.id, rule: alert.rule, err: (err as Error).message }, 'alert listener failed'))),
    ]);
  }
}

function detailsOf(r: StoredAuditRow): Record<string, unknown> {
  try {
    return JSON.parse(r.details) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function viewOf(row: { id: string; rule: string; subject: string; summary: string; details: string; first_at: number; last_at: number; count: number; audit_id: number }): AlertView {
  return {
    id: row.id,
    rule: row.rule as AlertRuleId,
    subject: row.subject,
    summary: row.summary,
    details: JSON.parse(row.details) as Record<string, AlertDetail>,
    firstAt: new Date(Number(row.first_at)).toISOString(),
    lastAt: new Date(Number(row.last_at)).toISOString(),
    count: Number(row.count),
    auditId: Number(row.audit_id),
  };
}

/** 300 → "5 minutes", 60 → "1 minute", 90 → "90 seconds". */
export function duration(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} hour${s === 3600 ? '' : 's'}`;
  if (s % 60 === 0) return `${s / 60} minute${s === 60 ? '' : 's'}`;
  return `${s} second${s === 1 ? '' : 's'}`;
}
