/**
 * `keynest security status`: the organization's security at a glance (GET /api/v1/security/status,
 * audit:read): what an admin checks first after an alert, and what docs/metrics.md calls the
 * security metrics dashboard.
 */
import type { SecurityStatus } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest security status [--json]

status   The organization's security at a glance: failed sign-ins by address and account
         lockouts of the last 24 hours, rate-limit refusals (this server's, since it started),
         two-factor adoption and the admins without it, stale API tokens (unused for 90 days,
         never used in their first 30, or expiring within 7), active sessions.
         Needs audit:read (owners, admins, auditors), from a signed-in session.
`;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('security', argv, io, { status }, USAGE);
}

async function status(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const s = await client.securityStatus();
  emit(io, globals, s, () => dashboard(s));
  return 0;
}

const REQUIRED_FOR: Record<SecurityStatus['twoFactor']['required'], string> = { off: 'nobody', admins: 'admins', all: 'everyone' };

/** Sections of a heading line and, when there is something to list, an indented table. */
function dashboard(s: SecurityStatus): string {
  const section = (heading: string, headers: string[], rows: string[][]) => (rows.length === 0 ? heading : `${heading}\n${indent(table(headers, rows))}`);
  const { failedSignIns: failed, lockouts, rateLimits, twoFactor } = s;
  const percent = `${Math.round(twoFactor.rate * 100)}%`;
  return [
    `Security status of the last 24 hours (${when(s.window.from)} to ${when(s.window.to)})`,
    section(
      `Failed sign-ins: ${countOrNone(failed.total)}`,
      ['IP', 'ATTEMPTS', 'ACCOUNTS', 'LAST'],
      failed.byIp.map((r) => [r.ip ?? '-', String(r.attempts), String(r.accounts), when(r.lastAt)]),
    ),
    section(
      `Account lockouts: ${countOrNone(lockouts.total)}`,
      ['AT', 'ACCOUNT', 'IP'],
      lockouts.recent.map((l) => [when(l.at), l.email ?? l.userId ?? '-', l.ip ?? '-']),
    ),
    section(
      `Rate-limit refusals: ${countOrNone(rateLimits.refused)} (this server, since ${when(rateLimits.since)})`,
      ['LIMIT', 'REFUSED'],
      Object.entries(rateLimits.byLimit).map(([limit, n]) => [limit, String(n)]),
    ),
    section(
      `Two-factor authentication: ${twoFactor.enabled} of ${twoFactor.members} members (${percent}), required for ${REQUIRED_FOR[twoFactor.required]}\n` +
        `Admins without 2FA: ${countOrNone(twoFactor.adminsWithout.length)}`,
      ['EMAIL', 'ROLE'],
      twoFactor.adminsWithout.map((m) => [m.email, m.customRole?.name ?? m.role]),
    ),
    section(
      `Stale API tokens: ${countOrNone(s.staleTokens.length)}`,
      ['NAME', 'ID', 'CREATED BY', 'LAST USED', 'EXPIRES', 'WHY'],
      s.staleTokens.map((t) => [t.name, t.id, t.owner === 'org' ? `${t.createdBy.email ?? t.createdBy.id} (service)` : (t.createdBy.email ?? t.createdBy.id), t.lastUsedAt === null ? 'never' : when(t.lastUsedAt), when(t.expiresAt), t.reasons.join(', ')]),
    ),
    `Active sessions: ${s.activeSessions}`,
  ].join('\n\n');
}

function countOrNone(n: number): string {
  return n === 0 ? 'none' : String(n);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
