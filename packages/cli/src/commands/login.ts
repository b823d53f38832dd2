import { KeyNestApiError, type AuthResult, type LoginInput } from '@keynest/sdk';
import { parseCommand, expectPositionals } from '../args.js';
import { connect } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { readPassword } from '../stdin.js';
import { storeSession } from './session.js';
import { canPromptForCode, promptCode, secondFactorFromFlags, secondFactorFromTyped } from './twofa.js';

const USAGE = `Usage: keynest login [--server URL] --email EMAIL [--org ORG] [--password-stdin] [--totp CODE | --backup-code CODE]

Signs in and stores the session in $XDG_CONFIG_HOME/keynest/credentials.json (mode 0600).
The CLI asks for a long ("remember me") session: 30 days, ended after 7 days without use (the
server's defaults). See and end your sessions with keynest sessions.
The password is read from stdin with --password-stdin (one trailing newline is dropped), else asked
for on the terminal.

A member of several organizations signs in to one at a time: --org names it (its name or id); the
default is the first one joined.

An account with two-factor authentication (keynest 2fa) also needs a code, asked for on the
terminal, or given with:
  --totp CODE          a current code from the authenticator app
  --backup-code CODE   one of the backup codes (each works once)
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    {
      email: { type: 'string' },
      org: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      totp: { type: 'string' },
      'backup-code': { type: 'string' },
    },
    USAGE,
  );
  expectPositionals(positionals, []);
  if (!values.email) throw new UsageError('missing --email');
  const secondFactor = secondFactorFromFlags(values);
  const { client, server } = connect(io, globals, { auth: false });
  const fromStdin = values['password-stdin'] === true;
  const password = await readPassword(io, { fromStdin, confirm: false });
  const input: LoginInput = { email: values.email, password, rememberMe: true, ...(values.org !== undefined && { org: values.org }) };
  let result: AuthResult;
  try {
    result = await client.login({ ...input, ...secondFactor });
  } catch (error) {
    if (!(error instanceof KeyNestApiError && error.code === 'two_factor_required') || secondFactor !== null) throw error;
    if (!canPromptForCode(io, fromStdin)) {
      throw new CliError(
        'two_factor_required',
        'this account has two-factor authentication: pass --totp CODE (from the authenticator app) or --backup-code CODE',
      );
    }
    const code = await promptCode(io, 'Authentication code: ');
    result = await client.login({ ...input, ...secondFactorFromTyped(code) });
  }
  storeSession(io, globals, server, result, 'Logged in to');
  return 0;
}
