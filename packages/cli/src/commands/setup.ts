import { parseCommand, expectPositionals } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { readPassword } from '../stdin.js';
import { storeSession } from './session.js';

const USAGE = `Usage: keynest setup --server URL --setup-token TOKEN --email EMAIL --org NAME [--password-stdin]

Creates the first user and organization on a new server, using the one-time setup token the server
printed at its first start, and logs in as that user. The password is read from stdin with
--password-stdin (one trailing newline is dropped), else asked for on the terminal.

Options
  --setup-token TOKEN   the server's one-time setup token
  --email EMAIL         the first user's email
  --org NAME            the organization's name
  --password-stdin      read the password from stdin
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    {
      'setup-token': { type: 'string' },
      email: { type: 'string' },
      org: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
    USAGE,
  );
  expectPositionals(positionals, []);
  const setupToken = required(values['setup-token'], '--setup-token');
  const email = required(values.email, '--email');
  const orgName = required(values.org, '--org');
  const { client, server } = connect(io, globals, { auth: false });
  const password = await readPassword(io, { fromStdin: values['password-stdin'] === true, confirm: true });
  const result = await client.setup({ setupToken, email, password, orgName });
  storeSession(io, globals, server, result, 'Set up');
  return 0;
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`missing ${flag}`);
  return value;
}
