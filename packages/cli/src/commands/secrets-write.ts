/** The writing `keynest secrets` subcommands: set, delete, restore, rollback. */
import type { SecretWrite } from '@keynest/sdk';
import { expectPositionals, parseCommand, parseCount, type Globals } from '../args.js';
import { connect, resolveTarget, type Target } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { checkSecretKey, parseAssignment, readTextFile, rejectDuplicateKeys } from '../secret-input.js';
import { readAllStdin } from '../stdin.js';
import { TARGET_OPTIONS, USAGE } from './secrets-usage.js';
import { describeWrites } from './write-results.js';

export async function set(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { ...TARGET_OPTIONS, 'from-file': { type: 'string' }, stdin: { type: 'boolean' }, 'if-version': { type: 'string' } },
    USAGE,
  );
  const ifVersion = parseCount('--if-version', values['if-version']);
  const fromFile = values['from-file'];
  const fromStdin = values.stdin === true;
  if (fromFile !== undefined && fromStdin) throw new UsageError('use either --from-file or --stdin, not both');
  if (positionals.length === 0) throw new UsageError('missing KEY=VALUE');

  if (fromFile !== undefined || fromStdin) {
    const [key] = expectPositionals(positionals, ['KEY']);
    if (key!.includes('=')) throw new UsageError(`with ${fromStdin ? '--stdin' : '--from-file'} give only the KEY, not KEY=VALUE`);
    checkSecretKey(key!);
    const target = resolveTarget(values, io);
    const value = fromStdin ? await readAllStdin(io) : readTextFile(fromFile!);
    return write(io, globals, target, [{ key: key!, value, ifVersion }]);
  }
  let writes: SecretWrite[] = positionals.map(parseAssignment);
  rejectDuplicateKeys(writes.map((w) => w.key));
  if (ifVersion !== undefined) {
    if (writes.length !== 1) throw new UsageError('--if-version applies to one key at a time');
    writes = [{ ...writes[0]!, ifVersion }];
  }
  return write(io, globals, resolveTarget(values, io), writes);
}

async function write(
  io: Io,
  globals: Globals,
  target: Target,
  writes: SecretWrite[],
): Promise<number> {
  const { client } = connect(io, globals, { auth: true });
  const results = await client.setSecrets(target.project, target.env, writes);
  emit(io, globals, { results }, () => describeWrites(results));
  return 0;
}

export async function remove(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { ...TARGET_OPTIONS, 'if-version': { type: 'string' } }, USAGE);
  const [key] = expectPositionals(positionals, ['KEY']);
  checkSecretKey(key!);
  const ifVersion = parseCount('--if-version', values['if-version']);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  await client.deleteSecret(target.project, target.env, key!, { ifVersion });
  emit(io, globals, { deleted: { key } }, () => `deleted ${key} (restore it with keynest secrets restore ${key})`);
  return 0;
}

export async function restore(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, TARGET_OPTIONS, USAGE);
  const [key] = expectPositionals(positionals, ['KEY']);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const result = await client.restoreSecret(target.project, target.env, checkSecretKey(key!));
  emit(io, globals, result, () => `restored ${result.key} (version ${result.version})`);
  return 0;
}

export async function rollback(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { ...TARGET_OPTIONS, version: { type: 'string' }, 'if-version': { type: 'string' } },
    USAGE,
  );
  const [key] = expectPositionals(positionals, ['KEY']);
  const version = parseCount('--version', values.version);
  if (version === undefined) throw new UsageError('missing --version N (the version to roll back to)');
  const ifVersion = parseCount('--if-version', values['if-version']);
  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const result = await client.rollbackSecret(target.project, target.env, checkSecretKey(key!), version, { ifVersion });
  emit(io, globals, result, () => `rolled back ${result.key} to the value of version ${version} (now version ${result.version})`);
  return 0;
}
