import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CreateTokenInput, TokenInfo, TokenType } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveTarget } from '../config/context.js';
import { parseDuration } from '../duration.js';
import { CliError, UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const TYPES: readonly TokenType[] = ['read-only', 'deploy', 'admin', 'custom'];

const USAGE = `Usage: keynest tokens <subcommand>

  create --name N --type read-only|deploy|admin|custom --expires 90d
         [--project P] [--env E] [--scope P[/E],...] [--permission P1,P2] [--allow-ip CIDR,...] [--service]
         [--client-cert FILE]
                 create an API token and print it (only this once). --scope grants several
                 projects (P: all its environments) or environments (P/E); otherwise --project
                 and --env (or the linked project) name one environment. --permission is for
                 custom tokens; --service makes an org token that outlives its creator.
                 --client-cert binds the token to that PEM client certificate (mutual TLS):
                 the certificate alone then authenticates as the token, and the token works
                 only together with it.
  create --name N [--project P] [--env E] --access read|write [--expires 30d]
                 the original form: one environment, read or write
  list           list API tokens (type, scope, expiry, last use, uses)
  rotate ID [--grace 1h]
                 replace a token with a new one (printed only this once); the old one keeps
                 working for the grace period (default: none)
  revoke ID      revoke an API token at once
  bind-cert ID --client-cert FILE
                 bind a token to a PEM client certificate (see create --client-cert)
  unbind-cert ID unbind a token's client certificate

Durations: a number and a unit (s, m, h, d, w, y), e.g. 90d or 1d12h. Every token expires.
Use a token with KEYNEST_TOKEN=... keynest run -- CMD.
`;

const CREATE_OPTIONS = {
  name: { type: 'string' },
  project: { type: 'string' },
  env: { type: 'string' },
  scope: { type: 'string' },
  access: { type: 'string' },
  type: { type: 'string' },
  permission: { type: 'string' },
  'allow-ip': { type: 'string' },
  service: { type: 'boolean' },
  expires: { type: 'string' },
  'client-cert': { type: 'string' },
} as const;
const ROTATE_OPTIONS = { grace: { type: 'string' } } as const;
const BIND_OPTIONS = { 'client-cert': { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('tokens', argv, io, { create, list, rotate, revoke, 'bind-cert': bindCert, 'unbind-cert': unbindCert }, USAGE, { ...CREATE_OPTIONS, ...ROTATE_OPTIONS });
}

const commaList = (text: string | undefined): string[] | undefined =>
  text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter(Boolean);

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, CREATE_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (!values.name) throw new UsageError('missing --name');
  // "never" is sent as null, which the server refuses (every token expires): it says why.
  const expiresInSeconds = values.expires === undefined ? undefined : parseDuration(values.expires);
  let input: CreateTokenInput;
  if (values.type !== undefined) {
    if (values.access !== undefined) throw new UsageError('give --type or --access, not both');
    const type = values.type as TokenType;
    if (!TYPES.includes(type)) throw new UsageError(`--type must be one of ${TYPES.join(', ')}`);
    if (values.permission !== undefined && type !== 'custom') throw new UsageError('--permission is only for --type custom');
    if (type === 'custom' && !commaList(values.permission)?.length) throw new UsageError('--type custom needs --permission');
    if (expiresInSeconds === undefined) throw new UsageError('missing --expires: every token expires (e.g. --expires 90d)');
    let scope: { project: string; environment?: string }[];
    if (values.scope !== undefined) {
      if (values.project !== undefined || values.env !== undefined) throw new UsageError('give --scope or --project/--env, not both');
      scope = commaList(values.scope)!.map((grant) => {
        const [project, environment, extra] = grant.split('/');
        if (!project || extra !== undefined || environment === '') throw new UsageError(`invalid --scope entry "${grant}": use PROJECT or PROJECT/ENV`);
        return environment === undefined ? { project } : { project, environment };
      });
      if (scope.length === 0) throw new UsageError('--scope names no project');
    } else {
      const target = resolveTarget(values, io);
      scope = [{ project: target.project, environment: target.env }];
    }
    input = {
      name: values.name,
      type,
      scope,
      ...(type === 'custom' && { permissions: commaList(values.permission) }),
      ...(values.service && { owner: 'org' as const }),
      ...(values['allow-ip'] !== undefined && { allowedIps: commaList(values['allow-ip']) }),
      expiresInSeconds: expiresInSeconds as number,
    };
  } else {
    const access = values.access;
    if (access !== 'read' && access !== 'write') throw new UsageError('give --type (read-only, deploy, admin, custom), or --access read|write');
    if (values.scope !== undefined || values.permission !== undefined || values['allow-ip'] !== undefined || values.service) {
      throw new UsageError('--scope, --permission, --allow-ip and --service need --type');
    }
    const target = resolveTarget(values, io);
    input = { name: values.name, project: target.project, environment: target.env, access, ...(expiresInSeconds !== undefined && { expiresInSeconds }) };
  }
  if (values['client-cert'] !== undefined) input = { ...input, clientCertSha256: certificateFingerprint(values['client-cert']) };
  const { client } = connect(io, globals, { auth: true });
  const created = await client.createToken(input);
  emit(io, globals, created, () => {
    const { info } = created;
    return [
      `Created ${kindOf(info)} token ${info.name} (${info.id}) for ${scopeOf(info)}, expires ${info.expiresAt ? when(info.expiresAt) : 'never'}.`,
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
          ['ID', 'NAME', 'SCOPE', 'TYPE', 'STATUS', 'EXPIRES AT', 'LAST USED AT', 'USES'],
          tokens.map((t) => [t.id, t.name, scopeOf(t), kindOf(t), status(t), when(t.expiresAt), when(t.lastUsedAt), String(t.useCount)]),
        ),
  );
  return 0;
}

async function rotate(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, ROTATE_OPTIONS, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  const grace = values.grace === undefined ? 0 : parseDuration(values.grace);
  if (grace === null) throw new UsageError('--grace must be a duration, e.g. 1h');
  const { client } = connect(io, globals, { auth: true });
  const rotated = await client.rotateToken(id!, grace);
  emit(io, globals, rotated, () =>
    [
      `Rotated token ${rotated.info.name}: the new one is ${rotated.info.id}; the old one (${id}) ${grace === 0 ? 'stopped working' : `works for ${values.grace} more`}.`,
      'Store it now: it will not be shown again.',
      rotated.token,
    ].join('\n'),
  );
  return 0;
}

/** The original shorthand when the token was made with it (read, write), else its type. */
function kindOf(token: TokenInfo): string {
  return token.access ?? token.type;
}

function scopeOf(token: TokenInfo): string {
  return token.scope.map((g) => `${g.project.name}/${g.environment ? g.environment.name : '*'}`).join(',') || '-';
}

function status(token: TokenInfo): string {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && Date.parse(token.expiresAt) <= Date.now()) return 'expired';
  if (token.replacedBy) return 'rotated';
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

/**
 * The SHA-256 of a PEM certificate's DER, computed here: only the fingerprint travels, and a file
 * holding a private key instead of a certificate is refused before anything is sent.
 */
function certificateFingerprint(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('certificate_unreadable', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
  } catch {
    throw new CliError('invalid_certificate', `${file} does not hold a PEM certificate`);
  }
}

async function bindCert(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, BIND_OPTIONS, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  if (values['client-cert'] === undefined) throw new UsageError('missing --client-cert FILE');
  const sha256 = certificateFingerprint(values['client-cert']);
  const { client } = connect(io, globals, { auth: true });
  const info = await client.bindTokenClientCert(id!, sha256);
  emit(io, globals, { info }, () => `Bound token ${info.name} (${info.id}) to the client certificate with SHA-256 ${sha256}`);
  return 0;
}

async function unbindCert(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  const { client } = connect(io, globals, { auth: true });
  await client.unbindTokenClientCert(id!);
  emit(io, globals, { unbound: { id } }, () => `Token ${id} is no longer bound to a client certificate`);
  return 0;
}
