import type { SecretWrite } from '@keynest/sdk';
import { extname } from 'node:path';
import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveTarget } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import { parseDotenv } from '../formats/dotenv-parse.js';
import { emit, type Io } from '../io.js';
import { checkSecretKey, readTextFile } from '../secret-input.js';
import { describeWrites } from './write-results.js';

const USAGE = `Usage: keynest import FILE [--format dotenv|json] [--project P] [--env E]

Stores every KEY=value of FILE in one atomic write and prints each key as added, changed or
unchanged. The format follows the file's extension (.json: json), else dotenv. A dotenv file is
read as the dotenv package reads it; a JSON file must be an object of strings.
`;

/** The server's limit for one atomic write (docs/api.md): more would need several, non-atomic writes. */
const MAX_BATCH = 1000;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { project: { type: 'string' }, env: { type: 'string' }, format: { type: 'string' } },
    USAGE,
  );
  const [file] = expectPositionals(positionals, ['FILE']);
  const format = values.format ?? (extname(file!).toLowerCase() === '.json' ? 'json' : 'dotenv');
  if (format !== 'dotenv' && format !== 'json') throw new UsageError(`unknown format "${format}": use dotenv or json`);
  const target = resolveTarget(values, io);

  const text = readTextFile(file!);
  const pairs = format === 'json' ? parseJsonObject(text, file!) : [...parseDotenv(text)];
  if (pairs.length === 0) throw new CliError('nothing_to_import', `${file} holds no secrets`);
  if (pairs.length > MAX_BATCH) {
    throw new CliError('too_many_secrets', `${file} holds ${pairs.length} secrets; one import takes at most ${MAX_BATCH}`);
  }
  const writes: SecretWrite[] = pairs.map(([key, value]) => ({ key: checkSecretKey(key, ` in ${file}`), value }));

  const { client } = connect(io, globals, { auth: true });
  const results = await client.setSecrets(target.project, target.env, writes);
  emit(io, globals, { results }, () => describeWrites(results));
  return 0;
}

function parseJsonObject(text: string, file: string): Array<[string, string]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError('invalid_file', `${file} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError('invalid_file', `${file} must hold a JSON object of KEY: "value" pairs`);
  }
  return Object.entries(value).map(([key, content]) => {
    if (typeof content !== 'string') {
      throw new CliError('invalid_file', `the value of ${key} in ${file} is not a string`);
    }
    return [key, content];
  });
}
