/**
 * Where a command connects and with what, by fixed precedence:
 * - server: --server > KEYNEST_SERVER > the stored login's server > http://127.0.0.1:8200;
 * - token: KEYNEST_TOKEN (an API token) > the stored session, and the stored session only when it
 *   belongs to the server being called, so `--server` pointed elsewhere never receives it; the
 *   stored session's access token is renewed (session-refresh.ts) when the server refuses it;
 * - project/env: --project/--env > KEYNEST_PROJECT/KEYNEST_ENV > the nearest .keynest.json.
 */
import { KeyNestClient } from '@keynest/sdk';
import type { Globals } from '../args.js';
import { httpFetch } from '../http-fetch.js';
import { CliError, UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { readCredentials, type Credentials } from './credentials.js';
import { findLinkFile, type LinkFile } from './link-file.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8200';

export function normalizeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`invalid server URL "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`the server URL must start with http:// or https://, not "${url}"`);
  }
  return url.replace(/\/+$/, '');
}

export function resolveServer(globals: Globals, env: NodeJS.ProcessEnv, stored: Credentials | null): string {
  return normalizeServer(globals.server || env.KEYNEST_SERVER || stored?.server || DEFAULT_SERVER);
}

export type TokenSource = 'env' | 'session';

export function resolveToken(
  env: NodeJS.ProcessEnv,
  stored: Credentials | null,
  server: string,
): { token: string; source: TokenSource } | null {
  if (env.KEYNEST_TOKEN) return { token: env.KEYNEST_TOKEN, source: 'env' };
  if (stored && normalizeServer(stored.server) === server) return { token: stored.accessToken, source: 'session' };
  return null;
}

export interface Connection {
  client: KeyNestClient;
  server: string;
}

/** A client for the resolved server; with `auth`, one that carries a token or a clear error why not. */
export function connect(io: Io, globals: Globals, options: { auth: boolean }): Connection {
  const stored = readCredentials(io.env);
  const server = resolveServer(globals, io.env, stored);
  const credential = options.auth ? resolveToken(io.env, stored, server) : null;
  if (options.auth && credential === null) {
    throw new CliError('not_logged_in', `not logged in to ${server}: run keynest login or set KEYNEST_TOKEN`);
  }
  // A stored session's access token lives minutes: when the server refuses it, renew it once.
  // Loaded only then: a token's `keynest run` never pays for it (nor for node:crypto).
  const renewToken =
    credential?.source === 'session' && stored
      ? async (refused: string) => {
          const { renewStoredSession, sessionEnded } = await import('./session-refresh.js');
          return (await renewStoredSession(io.env, stored.server, refused, httpFetch)) ?? Promise.reject(sessionEnded());
        }
      : undefined;
  return { client: new KeyNestClient({ server, token: credential?.token, renewToken, fetch: httpFetch }), server };
}

export interface Target {
  project: string;
  env: string;
}

interface TargetFlags {
  project?: string | undefined;
  env?: string | undefined;
}

/** Each part is looked up only when asked for, and the link file is read at most once. */
function targetLookup(flags: TargetFlags, io: Pick<Io, 'env' | 'cwd'>) {
  let link: LinkFile | null | undefined;
  const linked = (): LinkFile | null => (link === undefined ? (link = findLinkFile(io.cwd)) : link);
  return {
    project(): string {
      const project = flags.project || io.env.KEYNEST_PROJECT || linked()?.project;
      if (!project) throw new UsageError('no project given: pass --project, set KEYNEST_PROJECT or run keynest link');
      return project;
    },
    env(): string {
      const env = flags.env || io.env.KEYNEST_ENV || linked()?.env;
      if (!env) throw new UsageError('no environment given: pass --env, set KEYNEST_ENV or run keynest link');
      return env;
    },
  };
}

export function resolveProject(flags: TargetFlags, io: Pick<Io, 'env' | 'cwd'>): string {
  return targetLookup(flags, io).project();
}

export function resolveTarget(flags: TargetFlags, io: Pick<Io, 'env' | 'cwd'>): Target {
  const lookup = targetLookup(flags, io);
  return { project: lookup.project(), env: lookup.env() };
}
