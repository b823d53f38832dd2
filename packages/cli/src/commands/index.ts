/**
 * The command table. Modules are imported only when their command runs, so `keynest run` does not
 * pay for parsing the export formats, and `keynest serve` alone loads the server.
 */
import type { Io } from '../io.js';

export interface Command {
  run(argv: string[], io: Io): Promise<number>;
}

const LOADERS: Record<string, () => Promise<Command>> = {
  serve: () => import('./serve.js'),
  setup: () => import('./setup.js'),
  signup: () => import('./signup.js'),
  login: () => import('./login.js'),
  logout: () => import('./logout.js'),
  whoami: () => import('./whoami.js'),
  projects: () => import('./projects.js'),
  envs: () => import('./envs.js'),
  secrets: () => import('./secrets.js'),
  run: () => import('./run.js'),
  export: () => import('./export.js'),
  import: () => import('./import.js'),
  link: () => import('./link.js'),
  tokens: () => import('./tokens.js'),
  invitations: () => import('./invitations.js'),
  members: () => import('./members.js'),
  roles: () => import('./roles.js'),
  sessions: () => import('./sessions.js'),
  '2fa': () => import('./twofa.js'),
  admin: () => import('./admin.js'),
  audit: () => import('./audit.js'),
  alerts: () => import('./alerts.js'),
  security: () => import('./security.js'),
  org: () => import('./org.js'),
  'emergency-access': () => import('./emergency-access.js'),
};

export const COMMAND_NAMES: readonly string[] = Object.keys(LOADERS);

export function loadCommand(name: string): Promise<Command> {
  return LOADERS[name]!();
}

export function topLevelUsage(): string {
  return `Usage: keynest <command> [options]

Server
  serve                    run a KeyNest server
  setup                    create the first user and organization on a new server

Session
  signup                   ask to join an organization that has open sign-up
  signup verify TOKEN      finish signing up with the token from the mail
  login                    sign in and store the session
  logout                   end the session on the server and forget it here
  whoami                   show who the current credential is
  sessions list|revoke     see and end your sign-in sessions
  2fa status|enable|confirm|disable|backup-codes
                           two-factor authentication for your sign-in

Data
  projects create|list|delete
  envs create|list|delete
  secrets set|get|list|delete|restore|history|rollback
  run -- CMD [ARGS...]     run a command with the secrets in its environment
  export                   print secrets as dotenv, json, yaml, shell, docker or k8s
  import FILE              store secrets from a dotenv or JSON file
  link                     remember the project and environment for this directory

Access
  tokens create|list|revoke
  invitations create|list|revoke|accept
  members list|set-role|project-role|remove
  roles list|get|templates|create|update|delete
                           custom roles and the shipped templates
  admin rotate-keys
  audit search|export|verify|checkpoint|hash|sinks
  alerts list|rules|set      security alerts and their rules
  security status          the organization's security at a glance: failed sign-ins,
                           lockouts, 2FA adoption, stale tokens
  org allowlist list|add|remove|enable|disable
                           the organization's IP allowlist
  emergency-access request|confirm
                           an owner shut out by the IP allowlist gets back in by mail

Global options
  --server URL             server (else KEYNEST_SERVER, else the one you logged in to,
                           else http://127.0.0.1:8200)
  --json                   machine-readable JSON on stdout
  -h, --help               help for any command or subcommand
  --version                print the version

Credentials: KEYNEST_TOKEN (an API token) wins over the session stored by keynest login.
Project and environment: --project/--env, else KEYNEST_PROJECT/KEYNEST_ENV, else .keynest.json.
`;
}
