import type { TokenInfo } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveTarget } from '../config/context.js';
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest tokens <subcommand>

  create --name N [--project P] [--env E] --access read|write [--expires 30d|never]
                 create an API token for one environment and print it (only this once)
  list           list API tokens
  revoke ID      revoke an API token at once

Durations: a number and a unit (s, m, h, d, w, y), e.g. 90d or 1d12h; "never" for no expiry.
Use a token with KEYNEST_TOKEN=... keynest run -- CMD.
`;

const CREATE_OPTIONS = {
  name: { type: 'string' },
  project: { type: 'string' },
  env: { type: 'string' },
  access: { type: 'string' },
  expires: { type: 'string' },
} as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('tokens', argv, io, { create, list, revoke }, USAGE, CREATE_OPTIONS);
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, CREATE_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (!values.name) throw new UsageError('missing --name');
  const access = values.access;
  if (access !== 'read' && access !== 'write') throw new UsageError('--access must be read or write');
  const expiresInSeconds = values.expires === undefined ? null : parseDuration(values.expires);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const created = await client.createToken({
    name: values.name,
    project: target.project,
    environment: target.env,
    access,
    ...(expiresInSeconds !== null && { expiresInSeconds }),
  });
  emit(io, globals, created, () => {
    const { info } = created;
    return [
      `Created ${info.access} token ${info.name} (${info.id}) for ${info.project.name}/${info.environment.name}, ` +
        `expires ${info.expiresAt ? when(info.expiresAt) : 'never'}.`,
      'Store it now: it will not be shown again.',
      created.token,
    ].join('\n');
  });
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const tokens = await client.listTokens();
  emit(io, globals, { tokens }, () =>
    tokens.length === 0
      ? 'No API tokens.'
      : table(
          ['ID', 'NAME', 'SCOPE', 'ACCESS', 'STATUS', 'EXPIRES AT', 'LAST USED AT'],
          tokens.map((t) => [
            t.id,
            t.name,
            `${t.project.name}/${t.environment.name}`,
            t.access,
            status(t),
            when(t.expiresAt),
            when(t.lastUsedAt),
          ]),
        ),
  );
  return 0;
}

function status(token: TokenInfo): string {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && Date.parse(token.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

async function revoke(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  const { client } = connect(io, globals, { auth: true });
  await client.revokeToken(id!);
  emit(io, globals, { revoked: { id } }, () => `Revoked token ${id}`);
  return 0;
}
