import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveTarget } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import {
  EXPORT_FORMATS,
  UnrepresentableValueError,
  defaultK8sName,
  formatSecrets,
  isExportFormat,
  isValidK8sName,
} from '../formats/index.js';
import type { Io } from '../io.js';

const USAGE = `Usage: keynest export [--project P] [--env E] [--format FORMAT] [--raw] [--name NAME]

Prints the environment's secrets (references resolved unless --raw) on stdout.

Formats
  dotenv (default)   KEY="value" lines that the dotenv package reads back exactly
  json               { "KEY": "value" }
  yaml               KEY: "value" lines
  shell              export KEY='value' lines, for eval or source
  docker             KEY=value lines for docker run --env-file (no multi-line values)
  k8s                a Kubernetes Secret manifest; --name sets its name (default: PROJECT-ENV)

A value a format cannot hold exactly is an error naming its key; nothing is printed then.
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    {
      project: { type: 'string' },
      env: { type: 'string' },
      format: { type: 'string' },
      raw: { type: 'boolean' },
      name: { type: 'string' },
    },
    USAGE,
  );
  expectPositionals(positionals, []);
  const format = values.format ?? (globals.json ? 'json' : 'dotenv');
  if (!isExportFormat(format)) {
    throw new UsageError(`unknown format "${format}": use one of ${EXPORT_FORMATS.join(', ')}`);
  }
  if (values.name !== undefined && format !== 'k8s') throw new UsageError('--name applies to --format k8s only');
  if (values.name !== undefined && !isValidK8sName(values.name)) {
    throw new UsageError(`"${values.name}" is not a valid Kubernetes name (lower-case letters, digits, "-" and ".")`);
  }

  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  const secrets = await client.listSecrets(target.project, target.env, { raw: values.raw === true, purpose: `export:${format}` });
  const entries = secrets.map(({ key, value }) => ({ key, value: value ?? '' }));
  let text: string;
  try {
    text = formatSecrets(format, entries, values.name ?? defaultK8sName(target.project, target.env));
  } catch (error) {
    if (error instanceof UnrepresentableValueError) throw new CliError('unrepresentable_value', error.message);
    throw error;
  }
  io.stdout.write(text);
  return 0;
}
