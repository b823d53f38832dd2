import { parseCommand, expectPositionals } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';

const USAGE = `Usage: keynest whoami

Shows who the current credential (KEYNEST_TOKEN, else the stored session) is, and on which server.
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client, server } = connect(io, globals, { auth: true });
  const me = await client.me();
  emit(io, globals, me, () => {
    const { principal } = me;
    const who =
      principal.type === 'user'
        ? principal.user.email
        : `API token ${principal.token.name} (${principal.token.id})`;
    return `${who} in organization ${principal.org.name} on ${server}`;
  });
  return 0;
}
