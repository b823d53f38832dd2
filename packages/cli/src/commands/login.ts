import { parseCommand, expectPositionals } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { readPassword } from '../stdin.js';
import { storeSession } from './session.js';

const USAGE = `Usage: keynest login [--server URL] --email EMAIL [--password-stdin]

Signs in and stores the session in $XDG_CONFIG_HOME/keynest/credentials.json (mode 0600).
The CLI asks for a long ("remember me") session: 30 days, ended after 7 days without use (the
server's defaults). See and end your sessions with keynest sessions.
The password is read from stdin with --password-stdin (one trailing newline is dropped), else asked
for on the terminal.
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { email: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
    USAGE,
  );
  expectPositionals(positionals, []);
  if (!values.email) throw new UsageError('missing --email');
  const { client, server } = connect(io, globals, { auth: false });
  const password = await readPassword(io, { fromStdin: values['password-stdin'] === true, confirm: false });
  const result = await client.login({ email: values.email, password, rememberMe: true });
  storeSession(io, globals, server, result, 'Logged in to');
  return 0;
}
