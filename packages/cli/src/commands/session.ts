/** What setup and login share: keeping the new session, and what they print about it. */
import type { AuthResult } from '@keynest/sdk';
import type { Globals } from '../args.js';
import { writeCredentials } from '../config/credentials.js';
import { CliError } from '../errors.js';
import { emit, type Io } from '../io.js';

export function storeSession(io: Io, globals: Globals, server: string, result: AuthResult, verb: string): void {
  writeCredentials(io.env, {
    server,
    email: result.user.email,
    org: result.org.name,
    accessToken: result.accessToken,
    refreshToken: requireRefreshToken(result.refreshToken),
    sessionExpiresAt: result.session.expiresAt,
  });
  // The tokens live in the credentials file only; --json output is often logged.
  const shown = { server, user: result.user, org: result.org, session: { expiresAt: result.session.expiresAt } };
  emit(io, globals, shown, () => `${verb} ${server} as ${result.user.email} (organization ${result.org.name})`);
}

function requireRefreshToken(token: string | undefined): string {
  if (!token) throw new CliError('unexpected_response', 'the server signed in without handing out a refresh token');
  return token;
}
