/** `keynest secrets …`: reading subcommands here, writing ones in secrets-write.ts. */
import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveTarget } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { checkSecretKey } from '../secret-input.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';
import { TARGET_OPTIONS, USAGE } from './secrets-usage.js';
import { remove, restore, rollback, set } from './secrets-write.js';

const GROUP_OPTIONS = {
  ...TARGET_OPTIONS,
  'from-file': { type: 'string' },
  'if-version': { type: 'string' },
  version: { type: 'string' },
} as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('secrets', argv, io, { set, get, list, delete: remove, restore, history, rollback }, USAGE, GROUP_OPTIONS);
}

async function get(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { ...TARGET_OPTIONS, plain: { type: 'boolean' }, raw: { type: 'boolean' } },
    USAGE,
  );
  const [key] = expectPositionals(positionals, ['KEY']);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const secret = await client.getSecret(target.project, target.env, checkSecretKey(key!), { raw: values.raw === true });
  const value = secret.value ?? '';
  if (values.plain && !globals.json) {
    // For $(…) and pipes: the bytes as stored, with no newline added.
    io.stdout.write(value);
    return 0;
  }
  emit(io, globals, secret, () => value);
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { ...TARGET_OPTIONS, reveal: { type: 'boolean' }, 'include-deleted': { type: 'boolean' }, raw: { type: 'boolean' } },
    USAGE,
  );
  expectPositionals(positionals, []);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const reveal = values.reveal === true;
  const includeDeleted = values['include-deleted'] === true;
  // Without --reveal, values are not even fetched: listing keys needs only the read-keys permission.
  const secrets = await client.listSecrets(target.project, target.env, {
    values: reveal,
    raw: values.raw === true,
    includeDeleted,
  });
  emit(io, globals, { secrets }, () => {
    if (secrets.length === 0) return `No secrets in ${target.project}/${target.env}.`;
    const headers = ['KEY', 'VERSION', 'UPDATED AT', 'UPDATED BY'];
    if (includeDeleted) headers.push('DELETED AT');
    if (reveal) headers.push('VALUE');
    return table(
      headers,
      secrets.map((s) => {
        const row = [s.key, String(s.version), when(s.updatedAt), s.updatedBy.name];
        if (includeDeleted) row.push(when(s.deletedAt));
        if (reveal) row.push(s.value ?? '');
        return row;
      }),
    );
  });
  return 0;
}

async function history(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, TARGET_OPTIONS, USAGE);
  const [key] = expectPositionals(positionals, ['KEY']);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const answer = await client.secretVersions(target.project, target.env, checkSecretKey(key!));
  emit(io, globals, answer, () =>
    table(
      ['VERSION', 'ACTION', 'AT', 'BY'],
      answer.versions.map((v) => [String(v.version), v.action, when(v.createdAt), v.createdBy.name]),
    ),
  );
  return 0;
}
