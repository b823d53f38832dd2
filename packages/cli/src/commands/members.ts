/**
 * `keynest members`: who is in your organization (member:read), changing their roles and removing
 * them (member:manage and a recent sign-in). Members are named by email or user id.
 */
import type { KeyNestClient, Member, Role } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const ROLES: readonly Role[] = ['owner', 'admin', 'developer', 'viewer'];

const USAGE = `Usage: keynest members <subcommand>

  list                          the members of your organization, with their roles
  set-role USER_OR_EMAIL ROLE   change a member's role (owner, admin, developer or viewer): you
                                may give at most your own role, to someone whose role you could
                                give (only an owner changes an owner); the last owner stays owner
  remove USER_OR_EMAIL          remove a member: their sessions and API tokens in this
                                organization stop working at once; prints the secrets they could
                                read, to rotate (their account stays)
Changing or removing a member needs a recent sign-in (keynest login again after 10 minutes).
`;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('members', argv, io, { list, 'set-role': setRole, remove }, USAGE);
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const members = await client.listMembers();
  emit(io, globals, { members }, () =>
    table(
      ['USER', 'EMAIL', 'ROLE', '2FA', 'JOINED', 'LAST ACTIVE'],
      members.map((m) => [m.userId, m.email, m.role, m.twoFactorEnabled ? 'on' : 'off', when(m.joinedAt), when(m.lastActiveAt)]),
    ),
  );
  return 0;
}

async function setRole(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [who, role] = expectPositionals(positionals, ['USER_OR_EMAIL', 'ROLE']);
  if (!(ROLES as readonly string[]).includes(role!)) throw new UsageError(`ROLE must be one of ${ROLES.join(', ')}`);
  const { client } = connect(io, globals, { auth: true });
  const member = await client.setMemberRole(await userIdOf(client, who!), role as Role);
  emit(io, globals, { member }, () => `${member.email} is now ${member.role}.`);
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
