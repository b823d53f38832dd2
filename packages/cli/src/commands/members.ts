/**
 * `keynest members`: who is in your organization (member:read), changing their roles (built-in or
 * custom), their roles inside one project, and removing them (member:manage and a recent sign-in).
 * Members are named by email or user id.
 */
import type { KeyNestClient, Member } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveProject } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';
import { roleChoice } from './role-choice.js';

const USAGE = `Usage: keynest members <subcommand>

  list                          the members of your organization, with their roles
  set-role USER_OR_EMAIL ROLE   change a member's role (owner, admin, developer, viewer, or a
                                custom role's name or id: keynest roles list): you may give at
                                most your own access, to someone whose role you could give (only
                                an owner changes an owner); the last owner stays owner
  project-role list [--project P]
                                members whose role differs inside the project
  project-role set USER_OR_EMAIL ROLE [--project P]
                                inside the project, the member acts with ROLE instead of their
                                organization role (never for owners; at most your own access there)
  project-role clear USER_OR_EMAIL [--project P]
                                back to their organization role inside the project
  remove USER_OR_EMAIL          remove a member: their sessions and API tokens in this
                                organization stop working at once; prints the secrets they could
                                read, to rotate (their account stays)
Changing or removing a member needs a recent sign-in (keynest login again after 10 minutes).
The project is --project, else KEYNEST_PROJECT, else .keynest.json.
`;

const PROJECT_OPTIONS = { project: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('members', argv, io, { list, 'set-role': setRole, 'project-role': projectRole, remove }, USAGE, PROJECT_OPTIONS);
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const members = await client.listMembers();
  emit(io, globals, { members }, () =>
    table(
      ['USER', 'EMAIL', 'ROLE', '2FA', 'JOINED', 'LAST ACTIVE'],
      members.map((m) => [m.userId, m.email, m.customRole?.name ?? m.role, m.twoFactorEnabled ? 'on' : 'off', when(m.joinedAt), when(m.lastActiveAt)]),
    ),
  );
  return 0;
}

async function setRole(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [who, role] = expectPositionals(positionals, ['USER_OR_EMAIL', 'ROLE']);
  const { client } = connect(io, globals, { auth: true });
  const member = await client.setMemberRole(await userIdOf(client, who!), roleChoice(role!));
  emit(io, globals, { member }, () => `${member.email} is now ${member.customRole?.name ?? member.role}.`);
  return 0;
}


function projectRole(argv: string[], io: Io): Promise<number> {
  return dispatch('members project-role', argv, io, { list: projectRoleList, set: projectRoleSet, clear: projectRoleClear }, USAGE, PROJECT_OPTIONS);
}

async function projectRoleList(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PROJECT_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  const project = resolveProject(values, io);
  const { client } = connect(io, globals, { auth: true });
  const memberRoles = await client.listProjectMemberRoles(project);
  emit(io, globals, { memberRoles }, () =>
    memberRoles.length === 0
      ? `No member has a role of its own in ${project}.`
      : table(['USER', 'EMAIL', 'ROLE IN PROJECT', 'SET'], memberRoles.map((m) => [m.userId, m.email, m.customRole?.name ?? m.role, when(m.setAt)])),
  );
  return 0;
}

async function projectRoleSet(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PROJECT_OPTIONS, USAGE);
  const [who, role] = expectPositionals(positionals, ['USER_OR_EMAIL', 'ROLE']);
  const choice = roleChoice(role!);
  if ('role' in choice && choice.role === 'owner') throw new UsageError('owner is an organization role, not a project one');
  const project = resolveProject(values, io);
  const { client } = connect(io, globals, { auth: true });
  const memberRole = await client.setProjectMemberRole(project, await userIdOf(client, who!), choice);
  emit(io, globals, { memberRole }, () => `${memberRole.email} is ${memberRole.customRole?.name ?? memberRole.role} in ${project}.`);
  return 0;
}

async function projectRoleClear(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PROJECT_OPTIONS, USAGE);
  const [who] = expectPositionals(positionals, ['USER_OR_EMAIL']);
  const project = resolveProject(values, io);
  const { client } = connect(io, globals, { auth: true });
  await client.clearProjectMemberRole(project, await userIdOf(client, who!));
  emit(io, globals, { cleared: { project, member: who } }, () => `${who} has their organization role in ${project} again.`);
  return 0;
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [who] = expectPositionals(positionals, ['USER_OR_EMAIL']);
  const { client } = connect(io, globals, { auth: true });
  const removal = await client.removeMember(await userIdOf(client, who!));
  emit(io, globals, removal, () => {
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    const head = `Removed ${who}: ended ${plural(removal.revokedSessions, 'session')} and revoked ${plural(removal.revokedTokens, 'API token')}.`;
    if (removal.readableSecrets.length === 0) return `${head}\nThey could read no secret values.`;
    return `${head}\nThey could read these secrets; rotate them:\n${table(
      ['PROJECT', 'ENVIRONMENT', 'KEY'],
      removal.readableSecrets.map((s) => [s.project, s.environment, s.key]),
    )}`;
  });
  return 0;
}

/**
 * An email is looked up in the members list (emails are stored lower-case); anything else is
 * taken as a user id, which the server answers member_not_found when it names nobody here.
 */
async function userIdOf(client: KeyNestClient, who: string): Promise<string> {
  if (!who.includes('@')) return who;
  const email = who.trim().toLowerCase();
  const found = (await client.listMembers()).find((m: Member) => m.email === email);
  if (!found) throw new CliError('member_not_found', `no member of your organization has the email ${email}`);
  return found.userId;
}
