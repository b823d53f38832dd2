import { expectPositionals, parseCommand } from '../args.js';
import { connect, resolveProject } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest envs <subcommand> [--project P]

  create NAME            add an environment to the project
  list                   list the project's environments
  delete NAME --yes      delete an environment and its secrets

The project comes from --project, else KEYNEST_PROJECT, else .keynest.json.
`;

const PROJECT_OPTION = { project: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('envs', argv, io, { create, list, delete: remove }, USAGE, PROJECT_OPTION);
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PROJECT_OPTION, USAGE);
  const [name] = expectPositionals(positionals, ['NAME']);
  const project = resolveProject(values, io);
  const { client } = connect(io, globals, { auth: true });
  const environment = await client.createEnvironment(project, name!);
  emit(io, globals, { environment }, () => `Created environment ${environment.name} in project ${project}`);
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PROJECT_OPTION, USAGE);
  expectPositionals(positionals, []);
  const project = resolveProject(values, io);
  const { client } = connect(io, globals, { auth: true });
  const environments = await client.listEnvironments(project);
  emit(io, globals, { environments }, () =>
    environments.length === 0
      ? `No environments in project ${project}.`
      : table(['NAME', 'CREATED AT'], environments.map((e) => [e.name, when(e.createdAt)])),
  );
  return 0;
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { ...PROJECT_OPTION, yes: { type: 'boolean' } }, USAGE);
  const [name] = expectPositionals(positionals, ['NAME']);
  const project = resolveProject(values, io);
  if (!values.yes) throw new UsageError(`deleting environment ${name} removes all its secrets: confirm with --yes`);
  const { client } = connect(io, globals, { auth: true });
  await client.deleteEnvironment(project, name!);
  emit(io, globals, { deleted: { project, environment: name } }, () => `Deleted environment ${name} from project ${project}`);
  return 0;
}
