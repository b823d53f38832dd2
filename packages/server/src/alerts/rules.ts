import type { AlertRuleChange, AlertRuleView } from '@keynest/sdk';
import { AppError } from '../errors.js';

/**
 * The alert rules an org can have, with the defaults it gets until it changes them. A rule either
 * counts records in a sliding window (`threshold` records within `windowS` seconds fire it) or fires
 * on each matching record (no threshold). One place: the engine, the API, the CLI and
 * docs/alerts.md all go by this list.
 */
export const ALERT_RULES = {
  failed_sign_ins: {
    description: 'More than THRESHOLD failed sign-ins to the org within WINDOW',
    threshold: 10,
    windowS: 300,
  },
  failed_sign_ins_ip: {
    description: 'More than THRESHOLD failed sign-ins to the org from one IP address within WINDOW',
    threshold: 10,
    windowS: 300,
  },
  lockout: { description: 'An account was locked after failed sign-ins', threshold: null, windowS: null },
  admin_token_created: { description: 'An admin API token was created', threshold: null, windowS: null },
  admin_2fa_disabled: { description: 'An owner or admin turned two-factor authentication off', threshold: null, windowS: null },
  allowlist_changed: { description: "The org's IP allowlist was changed", threshold: null, windowS: null },
  new_country: { description: 'A member signed in from a country they never signed in from before (needs KEYNEST_GEOIP_DB)', threshold: null, windowS: null },
  permission_denials: {
    description: 'More than THRESHOLD refused requests (403) in the org within WINDOW',
    threshold: 20,
    windowS: 60,
  },
} as const satisfies Record<string, { description: string; threshold: number | null; windowS: number | null }>;

export type AlertRuleId = keyof typeof ALERT_RULES;
export const ALERT_RULE_IDS = Object.keys(ALERT_RULES) as AlertRuleId[];

/** A rule as it applies to one org: the default, or what the org set (the API's shape, from the SDK). */
export type AlertRule = AlertRuleView & { rule: AlertRuleId };

export type { AlertRuleChange };

/**
 * The actions some rule looks at (the engine's `#evaluate`). Every read of a value is an audit record
 * too, and the engine sees them all: the rest are passed over before anything is loaded for them.
 */
const WATCHED_ACTIONS: ReadonlySet<string> = new Set(['session.create', 'access.denied', 'account.lock', 'token.create', '2fa.disable']);
const WATCHED_PREFIX = 'org.allowlist.';

export function mayFire(action: string): boolean {
  return WATCHED_ACTIONS.has(action) || action.startsWith(WATCHED_PREFIX);
}

/** Bounds of a counting rule's settings: a window up to a day, a threshold up to a million. */
export const THRESHOLD_MAX = 1_000_000;
export const WINDOW_MAX_S = 86_400;

export function isAlertRule(id: string): id is AlertRuleId {
  return Object.hasOwn(ALERT_RULES, id);
}

export function defaultRule(rule: AlertRuleId): AlertRule {
  const d = ALERT_RULES[rule];
  return { rule, description: d.description, enabled: true, threshold: d.threshold, windowS: d.windowS, custom: false };
}

/** The rule after `change`; a threshold or window on a rule that does not count is refused. */
export function changedRule(current: AlertRule, change: AlertRuleChange): AlertRule {
  const counting = ALERT_RULES[current.rule].threshold !== null;
  if (!counting && (change.threshold !== undefined || change.windowS !== undefined)) {
    throw new AppError('alert_rule_not_counting', `Alert rule ${current.rule} fires on every matching event: it has no threshold or window`);
  }
  return {
    ...current,
    enabled: change.enabled ?? current.enabled,
    threshold: change.threshold ?? current.threshold,
    windowS: change.windowS ?? current.windowS,
    custom: true,
  };
}
