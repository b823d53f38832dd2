import { isRole, type Role } from '../access/permissions.js';
import { isSelfSignupRole, SELF_SIGNUP_ROLES } from '../access/policy.js';
import { AppError } from '../errors.js';

/**
 * The org setting that lets people sign themselves up. Invariants:
 * - off unless an admin turns it on (the column defaults to 0, a missing row reads as off);
 * - `allowedDomains` is matched exactly against the part after the last `@` (no subdomains unless
 *   listed: `acme.com` does not admit `eu.acme.com`), lower-case on both sides; empty = any domain;
 * - the role given is never one that runs the org (`isSelfSignupRole`): viewer unless set.
 */
export interface OpenSignupSettings {
  enabled: boolean;
  allowedDomains: string[];
  role: Role;
}

export const MAX_SIGNUP_DOMAINS = 50;
export const DEFAULT_SIGNUP_ROLE: Role = 'viewer';

/** A DNS name of at least two labels (IDNs in their xn-- form), at most 253 characters. */
export const DOMAIN_PATTERN = '^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';
const DOMAIN = new RegExp(DOMAIN_PATTERN);

export interface OpenSignupColumns {
  open_signup: number;
  signup_domains: string | null;
  signup_role: string;
}

export function openSignupOf(row: Partial<OpenSignupColumns> | undefined): OpenSignupSettings {
  const role = row?.signup_role;
  return {
    enabled: row?.open_signup === 1,
    allowedDomains: row?.signup_domains ? row.signup_domains.split(',') : [],
    // A role stored before the rule tightened (or by hand) falls back to the least privileged.
    role: role !== undefined && isRole(role) && isSelfSignupRole(role) ? role : DEFAULT_SIGNUP_ROLE,
  };
}

/** The columns a (partial) change writes; throws 400 validation_failed for a value it refuses. */
export function openSignupColumns(change: Partial<OpenSignupSettings>): Partial<OpenSignupColumns> {
  const out: Partial<OpenSignupColumns> = {};
  if (change.enabled !== undefined) out.open_signup = change.enabled ? 1 : 0;
  if (change.allowedDomains !== undefined) {
    const domains = [...new Set(change.allowedDomains.map((d) => d.trim().toLowerCase().replace(/^@/, '')))].sort();
    const bad = domains.findIndex((d) => !DOMAIN.test(d));
    if (bad >= 0) throw refused(`/openSignup/allowedDomains/${bad}`, 'pattern', 'allowedDomains holds something that is not a domain name (e.g. acme.com)');
    if (domains.length > MAX_SIGNUP_DOMAINS) throw refused('/openSignup/allowedDomains', 'maxItems', `at most ${MAX_SIGNUP_DOMAINS} domains`);
    out.signup_domains = domains.length === 0 ? null : domains.join(',');
  }
  if (change.role !== undefined) {
    if (!isSelfSignupRole(change.role)) {
      throw refused('/openSignup/role', 'enum', `open sign-up may give only ${SELF_SIGNUP_ROLES.join(' or ')}: a role that manages the organization is given by invitation`);
    }
    out.signup_role = change.role;
  }
  return out;
}

/** Whether open sign-up, as set, lets this (normalized) email in. */
export function admitsEmail(settings: OpenSignupSettings, email: string): boolean {
  if (!settings.enabled) return false;
  if (settings.allowedDomains.length === 0) return true;
  const domain = email.slice(email.lastIndexOf('@') + 1);
  return settings.allowedDomains.includes(domain);
}

function refused(path: string, rule: string, message: string): AppError {
  return new AppError('validation_failed', message, [{ path, rule }]);
}
