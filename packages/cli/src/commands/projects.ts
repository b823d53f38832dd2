import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest projects <subcommand>

  create NAME [--environments a,b,c]   create a project (default environments:
                                       development, staging, production)
  list                                 list the projects you can see
  delete NAME --yes                    delete a project with all its environments and secrets
`;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('projects', argv, io, { create, list, delete: remove }, USAGE, { environments: { type: 'string' } });
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { environments: { type: 'string' } }, USAGE);
  const [name] = expectPositionals(positionals, ['NAME']);
  const environments = values.environments
    ?.split(',')
    .map((env) => env.trim())
    .filter((env) => env !== '');
  const { client } = connect(io, globals, { auth: true });
  const project = await client.createProject(name!, environments);
  emit(io, globals, { project }, () =>
    `Created project ${project.name} with environments ${project.environments.map((e) => e.name).join(', ')}`,
  );
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const projects = await client.listProjects();
  emit(io, globals, { projects }, () =>
    projects.length === 0
      ? 'No projects.'
      : table(
          ['NAME', 'ENVIRONMENTS', 'CREATED AT'],
          projects.map((p) => [p.name, p.environments.map((e) => e.name).join(','), when(p.createdAt)]),
        ),
  );
  return 0;
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { yes: { type: 'boolean' } }, USAGE);
  const [name] = expectPositionals(positionals, ['NAME']);
  // Deleting a project takes every secret of every environment with it: never by accident.
  if (!values.yes) throw new UsageError(`deleting project ${name} removes all its secrets: confirm with --yes`);
  const { client } = connect(io, globals, { auth: true });
  await client.deleteProject(name!);
  emit(io, globals, { deleted: { project: name } }, () => `Deleted project ${name}`);
  return 0;
}
