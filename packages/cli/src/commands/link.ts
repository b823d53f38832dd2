import { expectPositionals, parseCommand } from '../args.js';
import { writeLinkFile } from '../config/link-file.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';

const USAGE = `Usage: keynest link --project P --env E

Writes .keynest.json in the current directory, so commands run here or below use this project and
environment when no --project/--env flag or KEYNEST_PROJECT/KEYNEST_ENV variable says otherwise.
The file holds no secret and may be committed.
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(
    argv,
    { project: { type: 'string' }, env: { type: 'string' } },
    USAGE,
  );
  expectPositionals(positionals, []);
  if (!values.project) throw new UsageError('missing --project');
  if (!values.env) throw new UsageError('missing --env');
  const path = writeLinkFile(io.cwd, values.project, values.env);
  emit(io, globals, { path, project: values.project, env: values.env }, () =>
    `Linked ${io.cwd} to ${values.project}/${values.env} (${path})`,
  );
  return 0;
}
