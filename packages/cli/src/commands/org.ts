/**
 * `keynest org`: your organization's own settings. `org allowlist` manages the IP allowlist
 * (needs settings:manage; changes need a recent sign-in). An owner shut out by it uses
 * `keynest emergency-access`.
 */
import type { IpAllowlist, OrgPlan, PlanName } from '@keynest/sdk';
import { expectPositionals, parseCommand, type Globals } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';
import { UsageError } from '../errors.js';

const USAGE = `Usage: keynest org <subcommand>
  allowlist list|add|remove|enable|disable
                 the IP allowlist: while it is on, every session and API token of the
                 organization is refused from addresses outside it
  plan show|set  the organization's plan: its limits and what it uses now
`;

const PLAN_USAGE = `Usage: keynest org plan <subcommand>
  show [--org ORG]              your organization's plan, limits and usage (needs settings:manage);
                                with --org (id or name), any organization's: the instance operator only
  set PLAN|default [--org ORG]  put an organization (yours unless --org) on free, team or unlimited, or
                                back on the instance default (KEYNEST_DEFAULT_PLAN): the instance
                                operator only (an owner of the organization made at setup); needs a
                                recent sign-in (keynest login)
`;
const PLAN_OPTIONS = { org: { type: 'string' } } as const;
const PLANS: readonly string[] = ['free', 'team', 'unlimited'];

const ALLOWLIST_USAGE = `Usage: keynest org allowlist <subcommand>
  list                          the allowlist, whether it is on, and your address as the server sees it
  add CIDR [--label TEXT]       allow an address (203.0.113.7, 2001:db8::1) or range (203.0.113.0/24)
  remove CIDR [--confirm-lockout]
                                remove an entry; refused while the list is on if it would shut out
                                your own address, unless --confirm-lockout
  enable [--confirm-lockout]    turn the allowlist on; refused if it is empty, or if it would shut out
                                your own address unless --confirm-lockout
  disable                       turn the allowlist off (every address is admitted again)
Changes need a recent sign-in (keynest login). Locked out? An owner can run keynest emergency-access.
`;

const ADD_OPTIONS = { label: { type: 'string' } } as const;
const LOCKOUT_OPTIONS = { 'confirm-lockout': { type: 'boolean' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('org', argv, io, { allowlist, plan }, USAGE);
}

function plan(argv: string[], io: Io): Promise<number> {
  return dispatch('org plan', argv, io, { show: showPlan, set: setPlan }, PLAN_USAGE, PLAN_OPTIONS);
}

function printPlan(io: Io, globals: Globals, p: OrgPlan, headline: string): void {
  emit(io, globals, { plan: p }, () => {
    const limit = (n: number | null) => (n === null ? 'unlimited' : String(n));
    const rows = (['members', 'projects', 'secrets', 'tokens'] as const).map((k) => [k, String(p.usage[k]), limit(p.limits[k])]);
    rows.push(['requests per minute', '', limit(p.limits.requestsPerMinute)]);
    return `${headline}${p.org.name} (${p.org.id}) is on the ${p.plan} plan${p.isDefault ? " (the instance's default)" : ''}.\n${table(['QUOTA', 'USED', 'LIMIT'], rows)}\nMembers count pending invitations.`;
  });
}

async function showPlan(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PLAN_OPTIONS, PLAN_USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  printPlan(io, globals, values.org === undefined ? await client.getOrgPlan() : await client.getPlanOf(values.org), '');
  return 0;
}

async function setPlan(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PLAN_OPTIONS, PLAN_USAGE);
  const [name] = expectPositionals(positionals, ['PLAN']);
  if (name !== 'default' && !PLANS.includes(name!)) throw new UsageError(`unknown plan "${name}": use free, team, unlimited or default\n\n${PLAN_USAGE}`);
  const { client } = connect(io, globals, { auth: true });
  const org = values.org ?? (await client.getOrgPlan()).org.id;
  const result = await client.setOrgPlan(org, name === 'default' ? null : (name as PlanName));
  printPlan(io, globals, result, 'Plan set. ');
  return 0;
}

function allowlist(argv: string[], io: Io): Promise<number> {
  return dispatch('org allowlist', argv, io, { list, add, remove, enable, disable }, ALLOWLIST_USAGE, { ...ADD_OPTIONS, ...LOCKOUT_OPTIONS });
}

function show(io: Io, globals: Globals, list: IpAllowlist, headline: string): void {
  emit(io, globals, { allowlist: list }, () => {
    const state = `${headline}The IP allowlist is ${list.enabled ? 'ON' : 'off'}; your address ${list.yourIp ?? '(unknown)'} is ${list.yourIpAllowed ? '' : 'not '}on it.`;
    if (list.entries.length === 0) return `${state}\nNo entries.`;
    return `${state}\n${table(['CIDR', 'LABEL', 'ADDED'], list.entries.map((e) => [e.cidr, e.label ?? '', when(e.createdAt)]))}`;
  });
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, ALLOWLIST_USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  show(io, globals, await client.getIpAllowlist(), '');
  return 0;
}

async function add(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, ADD_OPTIONS, ALLOWLIST_USAGE);
  const [cidr] = expectPositionals(positionals, ['CIDR']);
  const { client } = connect(io, globals, { auth: true });
  const result = await client.addIpAllowlistEntry(values.label === undefined ? { cidr: cidr! } : { cidr: cidr!, label: values.label });
  show(io, globals, result, `Added ${cidr}. `);
  return 0;
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, LOCKOUT_OPTIONS, ALLOWLIST_USAGE);
  const [cidr] = expectPositionals(positionals, ['CIDR']);
  const { client } = connect(io, globals, { auth: true });
  show(io, globals, await client.removeIpAllowlistEntry(cidr!, { confirmLockout: values['confirm-lockout'] === true }), `Removed ${cidr}. `);
  return 0;
}

async function enable(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, LOCKOUT_OPTIONS, ALLOWLIST_USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  show(io, globals, await client.setIpAllowlistEnabled(true, { confirmLockout: values['confirm-lockout'] === true }), '');
  return 0;
}

async function disable(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, ALLOWLIST_USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  show(io, globals, await client.setIpAllowlistEnabled(false), '');
  return 0;
}
