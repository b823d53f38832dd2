/**
 * `keynest invitations`: invite people into your organization (needs member:manage), and accept
 * an invitation mailed to you. An invitation's token is mailed to the invitee only; this command
 * never shows it to the inviter.
 */
import { KeyNestApiError, type AuthResult } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { readPassword } from '../stdin.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';
import { roleChoice } from './role-choice.js';
import { tokenFromArgument } from './link-token.js';
import { storeSession } from './session.js';
import { canPromptForCode, promptCode, secondFactorFromFlags, secondFactorFromTyped } from './twofa.js';

const USAGE = `Usage: keynest invitations <subcommand>

  create EMAIL --role owner|admin|developer|viewer|CUSTOM_ROLE
                 invite someone: a link (valid 7 days, single use) is mailed to them; you may
                 give at most your own access (only an owner invites an owner); a custom role
                 is named by its name or id (keynest roles list); inviting the same address
                 again replaces the pending invitation
  list           pending invitations
  revoke ID      revoke a pending invitation: its link stops working
  accept TOKEN [--password-stdin] [--totp CODE | --backup-code CODE]
                 accept an invitation mailed to you (the kn_inv_… token, or the whole link) and
                 log in. Without an account this creates one with the password given (asked for
                 on the terminal, or read from stdin with --password-stdin); with one, give its
                 password, and a code when it has two-factor authentication.
`;

const CREATE_OPTIONS = { role: { type: 'string' } } as const;
const ACCEPT_OPTIONS = { 'password-stdin': { type: 'boolean' }, totp: { type: 'string' }, 'backup-code': { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('invitations', argv, io, { create, list, revoke, accept }, USAGE, { ...CREATE_OPTIONS, ...ACCEPT_OPTIONS });
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, CREATE_OPTIONS, USAGE);
  const [email] = expectPositionals(positionals, ['EMAIL']);
  const role = values.role;
  if (role === undefined) throw new UsageError('missing --role');
  const choice = roleChoice(role);
  const { client } = connect(io, globals, { auth: true });
  const invitation = await client.createInvitation({ email: email!, ...choice });
  emit(io, globals, { invitation }, () => `Invited ${invitation.email} as ${invitation.customRole?.name ?? invitation.role} (${invitation.id}); the mailed link works until ${when(invitation.expiresAt)}.`);
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const invitations = await client.listInvitations();
  emit(io, globals, { invitations }, () =>
    invitations.length === 0
      ? 'No pending invitations.'
      : table(
          ['ID', 'EMAIL', 'ROLE', 'INVITED BY', 'SENT', 'EXPIRES'],
          invitations.map((i) => [i.id, i.email, i.customRole?.name ?? i.role, i.invitedBy?.email ?? '', when(i.createdAt), when(i.expiresAt)]),
        ),
  );
  return 0;
}

async function revoke(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  const { client } = connect(io, globals, { auth: true });
  await client.revokeInvitation(id!);
  emit(io, globals, { revoked: { id } }, () => `Revoked invitation ${id}.`);
  return 0;
}

async function accept(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, ACCEPT_OPTIONS, USAGE);
  const [argument] = expectPositionals(positionals, ['TOKEN']);
  const token = tokenFromArgument(argument!, 'inv');
  const secondFactor = secondFactorFromFlags(values);
  const { client, server } = connect(io, globals, { auth: false });
  const fromStdin = values['password-stdin'] === true;
  const password = await readPassword(io, { fromStdin, confirm: true });
  const input = { token, password, rememberMe: true };
  let result: AuthResult;
  try {
    result = await client.acceptInvitation({ ...input, ...secondFactor });
  } catch (error) {
    // An existing account with two-factor authentication: as keynest login does, ask for the code.
    if (!(error instanceof KeyNestApiError && error.code === 'two_factor_required') || secondFactor !== null) throw error;
    if (!canPromptForCode(io, fromStdin)) {
      throw new CliError('two_factor_required', 'your account has two-factor authentication: pass --totp CODE (from the authenticator app) or --backup-code CODE');
    }
    result = await client.acceptInvitation({ ...input, ...secondFactorFromTyped(await promptCode(io, 'Authentication code: ')) });
  }
  storeSession(io, globals, server, result, 'Joined');
  return 0;
}
