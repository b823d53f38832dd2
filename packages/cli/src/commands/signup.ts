/**
 * `keynest signup`: ask to join an organization that allows open sign-up, then finish with the
 * mailed token. The server answers the request the same way whether or not it sends a mail, so
 * this command never says that one was sent.
 */
import { splitCommand, valueOptionNames, expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { readPassword } from '../stdin.js';
import { tokenFromArgument } from './link-token.js';
import { storeSession } from './session.js';

const USAGE = `Usage: keynest signup [--server URL] --email EMAIL [--org ORG] [--password-stdin]
       keynest signup verify TOKEN [--server URL] [--password-stdin]

Asks to join an organization whose administrators turned on open sign-up. The password is checked
against the password policy at once; it is needed again to finish. If the organization admits your
address, a mail arrives with a link (valid 24 hours, single use): finish with
keynest signup verify TOKEN, with the kn_sgn_… token from the mail (or the whole link) and the same
password. That creates the account, logs in and stores the session like keynest login.
The server answers the same whether or not it sends a mail: no mail means sign-up is not open to
your address (or it already has an account: then the mail says so).

Options
  --email EMAIL        your email address
  --org ORG            the organization (id or name); needed only when the server has more than one
  --password-stdin     read the password from stdin (one trailing newline is dropped), else it is
                       asked for on the terminal
`;

const REQUEST_OPTIONS = { email: { type: 'string' }, org: { type: 'string' }, 'password-stdin': { type: 'boolean' } } as const;
const VERIFY_OPTIONS = { 'password-stdin': { type: 'boolean' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  const { name, rest } = splitCommand(argv, valueOptionNames(REQUEST_OPTIONS));
  return name === 'verify' ? verify(rest, io) : request(argv, io);
}

async function request(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, REQUEST_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (!values.email) throw new UsageError('missing --email');
  if (values.org === '') throw new UsageError('--org needs an organization id or name');
  const { client } = connect(io, globals, { auth: false });
  const password = await readPassword(io, { fromStdin: values['password-stdin'] === true, confirm: true });
  const answer = await client.signup({ email: values.email, password, ...(values.org !== undefined && { org: values.org }) });
  emit(io, globals, answer, () =>
    [
      `If sign-up is open to ${values.email}, a mail with a link is on its way (valid 24 hours).`,
      'Finish with: keynest signup verify TOKEN (the token from the mail, and the same password).',
    ].join('\n'),
  );
  return 0;
}

async function verify(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, VERIFY_OPTIONS, USAGE);
  const [argument] = expectPositionals(positionals, ['TOKEN']);
  const token = tokenFromArgument(argument!, 'sgn');
  const { client, server } = connect(io, globals, { auth: false });
  const password = await readPassword(io, { fromStdin: values['password-stdin'] === true, confirm: false });
  const result = await client.verifySignup({ token, password, rememberMe: true });
  storeSession(io, globals, server, result, 'Signed up to');
  return 0;
}
