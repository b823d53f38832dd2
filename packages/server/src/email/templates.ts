import { describeLocation, type GeoLocation } from '../geo/location.js';
import type { Mail, MailKind } from './mailer.js';

/**
 * The text of every mail KeyNest sends: plain text, short, in plain English. Each template takes
 * only what its mail must say; the only secrets in any of them are the link or code the mail exists
 * to deliver. Text that came from a user (an org name, a device, an inviter's address) is made one
 * line and cut short, so it cannot add lines of its own to the mail or its subject.
 */

export interface MailContent {
  subject: string;
  text: string;
}

interface Where {
  at: Date;
  /** Null when the request's address is unknown. */
  ip: string | null;
}

export interface MailParams {
  account_locked: { lockedUntil: Date; ip: string | null };
  /** `location` from the GeoIP database, when one is configured and knows the address. */
  new_sign_in: Where & { device: string; location?: GeoLocation | null };
  backup_code_used: Where & { remaining: number };
  two_factor_enabled: Where;
  two_factor_disabled: Where;
  password_changed: Where;
  password_reset: { link: string; expiresInMinutes: number };
  email_verification: { link: string; code: string; expiresInHours: number };
  invitation: { orgName: string; inviterEmail: string; link: string; code: string; expiresInDays: number };
  signup_verification: { orgName: string; link: string; code: string; expiresInHours: number };
  signup_account_exists: { signInUrl: string };
  emergency_access_code: Where & { orgNames: string[]; code: string; expiresInMinutes: number; allowanceMinutes: number };
  emergency_access_granted: Where & { orgNames: string[]; until: Date };
  /** To an org's owners and admins when an alert rule fires (alerts/). */
  security_alert: { orgName: string; rule: string; description: string; summary: string; at: Date; ip: string | null };
}

const MAX_FIELD_LENGTH = 100;

const TEMPLATES: { [K in MailKind]: (p: MailParams[K]) => MailContent } = {
  account_locked: (p) => ({
    subject: 'Your KeyNest account is locked',
    text: lines(
      'Your KeyNest account was locked after too many failed sign-in attempts.',
      '',
      `Last attempt from: ${address(p.ip)}`,
      `Locked until:      ${time(p.lockedUntil)}`,
      '',
      'You can sign in again after that time.',
      '',
      "If this wasn't you, someone may be guessing your password: once the lock ends, change it and turn on two-factor authentication.",
    ),
  }),

  new_sign_in: (p) => ({
    subject: 'New sign-in to your KeyNest account',
    text: lines(
      'Someone signed in to your KeyNest account.',
      '',
      ...facts(p),
      ...(p.location ? [`Location:   ${field(describeLocation(p.location))}, estimated from the IP address`] : []),
      `Device:     ${field(p.device)}`,
      '',
      "If this wasn't you, change your password now: that signs out every session.",
    ),
  }),

  backup_code_used: (p) => ({
    subject: 'A backup code was used for your KeyNest account',
    text: lines(
      'A backup code was used to sign in to your KeyNest account.',
      '',
      ...facts(p),
      `Backup codes left: ${p.remaining}`,
      ...(p.remaining === 0 ? ['', 'You have no backup codes left: generate new ones in your account settings.'] : []),
      '',
      "If this wasn't you, change your password now and generate new backup codes.",
    ),
  }),

  two_factor_enabled: (p) => ({
    subject: 'Two-factor authentication is on for your KeyNest account',
    text: lines(
      'Two-factor authentication was turned on for your KeyNest account.',
      '',
      ...facts(p),
      '',
      "If this wasn't you, change your password now and tell your KeyNest administrator.",
    ),
  }),

  security_alert: (p) => ({
    subject: `KeyNest security alert: ${field(p.rule)}`,
    text: lines(
      `A security alert fired for your KeyNest organization ${field(p.orgName)}.`,
      '',
      `Alert:      ${field(p.summary)}`,
      `Rule:       ${field(p.rule)}: ${field(p.description)}`,
      ...facts(p),
      '',
      'Repeats of this alert are counted, without another mail, until it has been quiet for a while (keynest alerts list).',
      '',
      "If you didn't expect this, see what happened with keynest audit search, and act on it (revoke tokens, end sessions, lock accounts).",
    ),
  }),

  two_factor_disabled: (p) => ({
    subject: 'Two-factor authentication is off for your KeyNest account',
    text: lines(
      'Two-factor authentication was turned off for your KeyNest account.',
      '',
      ...facts(p),
      '',
      "If this wasn't you, change your password now, turn two-factor authentication back on, and tell your KeyNest administrator.",
    ),
  }),

  password_changed: (p) => ({
    subject: 'Your KeyNest password was changed',
    text: lines(
      'The password of your KeyNest account was changed, and every session signed out.',
      '',
      ...facts(p),
      '',
      "If this wasn't you, reset your password now and tell your KeyNest administrator.",
    ),
  }),

  password_reset: (p) => ({
    subject: 'Reset your KeyNest password',
    text: lines(
      'Someone asked to reset the password of your KeyNest account.',
      '',
      `To choose a new password, open this link within ${plural(p.expiresInMinutes, 'minute')}. It works once.`,
      '',
      p.link,
      '',
      "If you didn't ask for this, ignore this mail: your password stays as it is.",
    ),
  }),

  email_verification: (p) => ({
    subject: 'Confirm your email address for KeyNest',
    text: lines(
      'To confirm this email address for your KeyNest account, open this link:',
      '',
      p.link,
      '',
      `or enter this code: ${p.code}`,
      '',
      `The link and the code expire in ${plural(p.expiresInHours, 'hour')}.`,
      '',
      "If you didn't sign up for KeyNest, ignore this mail.",
    ),
  }),

  invitation: (p) => {
    const org = field(p.orgName);
    return {
      subject: `You're invited to join ${org} on KeyNest`,
      text: lines(
        `${field(p.inviterEmail)} invited you to join the organization "${org}" on KeyNest.`,
        '',
        `To accept, open this link within ${plural(p.expiresInDays, 'day')}:`,
        '',
        p.link,
        '',
        `or run: keynest invitations accept ${p.code}`,
        '',
        'It works once. If you already have a KeyNest account with this address, accept with its password.',
        '',
        "If you weren't expecting this invitation, ignore this mail.",
      ),
    };
  },

  signup_verification: (p) => ({
    subject: 'Finish signing up for KeyNest',
    text: lines(
      `Someone asked to create a KeyNest account for this email address in the organization "${field(p.orgName)}".`,
      '',
      `To finish, open this link within ${plural(p.expiresInHours, 'hour')} and enter the password chosen when signing up:`,
      '',
      p.link,
      '',
      `or run: keynest signup verify ${p.code}`,
      '',
      'It works once. No account exists until it is used.',
      '',
      "If you didn't sign up for KeyNest, ignore this mail: no account is created.",
    ),
  }),

  signup_account_exists: (p) => ({
    subject: 'You already have a KeyNest account',
    text: lines(
      'Someone tried to sign up for KeyNest with this email address, but it already has an account.',
      '',
      'Sign in with it instead:',
      '',
      p.signInUrl,
      '',
      'If you forgot your password, reset it from there (or with POST /api/v1/auth/password-reset).',
      '',
      "If you didn't try to sign up, ignore this mail: nothing has changed.",
    ),
  }),

  // Both mails double as security notices: an owner who did not ask learns that someone tried.
  emergency_access_code: (p) => ({
    subject: 'KeyNest emergency access code',
    text: lines(
      `Someone asked for emergency access past the IP allowlist of ${p.orgNames.map((n) => `"${field(n)}"`).join(', ')} on KeyNest.`,
      '',
      ...facts(p),
      '',
      `To let the address you enter it from in for ${plural(p.allowanceMinutes, 'minute')}, run within ${plural(p.expiresInMinutes, 'minute')}:`,
      '',
      `keynest emergency-access confirm --email YOUR-EMAIL --code ${p.code}`,
      '',
      `or send it to POST /api/v1/auth/emergency-access/confirm. It works once.`,
      '',
      "If you didn't ask for this, ignore this mail: nothing changes unless the code is used. Someone may know that you are an owner and be trying to get past the allowlist.",
    ),
  }),

  emergency_access_granted: (p) => ({
    subject: 'KeyNest emergency access was granted',
    text: lines(
      `An emergency access code was used: this address may reach ${p.orgNames.map((n) => `"${field(n)}"`).join(', ')} on KeyNest as you, whatever the IP allowlist says.`,
      '',
      ...facts(p),
      `Until:      ${time(p.until)}`,
      '',
      "If this wasn't you, change your password now (that signs out every session) and check the organization's audit log.",
    ),
  }),
};

export function renderMail<K extends MailKind>(kind: K, params: MailParams[K]): MailContent {
  return TEMPLATES[kind](params);
}

/** A mail ready for `Mailer.send`. */
export function composeMail<K extends MailKind>(to: string, kind: K, params: MailParams[K]): Mail {
  return { to, kind, ...renderMail(kind, params) };
}

function facts(p: Where): string[] {
  return [`When:       ${time(p.at)}`, `IP address: ${address(p.ip)}`];
}

function lines(...ls: string[]): string {
  return `${ls.join('\n')}\n`;
}

/** Minutes in UTC, the same for every reader whatever the server's time zone. */
function time(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function address(ip: string | null): string {
  return ip === null ? 'unknown' : field(ip);
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * User-supplied text as one short line: control characters, line and paragraph separators and
 * bidirectional overrides (which can make text read differently than it is) become spaces.
 */
function field(s: string): string {
  const flat = s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...flat];
  return chars.length > MAX_FIELD_LENGTH ? `${chars.slice(0, MAX_FIELD_LENGTH - 1).join('')}…` : flat;
}
