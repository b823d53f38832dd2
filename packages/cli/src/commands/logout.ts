import { KeyNestApiError, KeyNestClient } from '@keynest/sdk';
import { parseCommand, expectPositionals } from '../args.js';
import { deleteCredentials, readCredentials } from '../config/credentials.js';
import { renewStoredSession } from '../config/session-refresh.js';
import { CliError } from '../errors.js';
import { httpFetch } from '../http-fetch.js';
import { emit, type Io } from '../io.js';

const USAGE = `Usage: keynest logout

Ends the stored session on the server, then forgets it here. If the server already refuses the
session (401), it is forgotten all the same; if the server cannot be reached, it is kept so that
logging out can be retried.
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const stored = readCredentials(io.env);
  if (!stored) {
    emit(io, globals, { loggedOut: false }, () => 'Not logged in.');
    return 0;
  }
  // The session belongs to the server it came from, whatever --server or KEYNEST_SERVER say now.
  // An expired access token is renewed first: the session must end on the server, not just here.
  // A session the server already ended needs no logout there; any other failure keeps the login.
  const renewToken = (refused: string) =>
    renewStoredSession(io.env, stored.server, refused, httpFetch).catch((error: unknown) => {
      if (error instanceof CliError && error.code === 'not_logged_in') return null;
      throw error;
    });
  const client = new KeyNestClient({ server: stored.server, token: stored.accessToken, renewToken, fetch: httpFetch });
  try {
    await client.logout();
  } catch (error) {
    if (!(error instanceof KeyNestApiError && error.status === 401)) throw error;
  }
  deleteCredentials(io.env);
  emit(io, globals, { loggedOut: true, server: stored.server, email: stored.email }, () =>
    `Logged out of ${stored.server} (${stored.email}).`,
  );
  return 0;
}
