/**
 * `keynest roles`: the organization's custom roles (reading: member:read; changes: role:manage and
 * a recent sign-in) and the role templates KeyNest ships. A role is named by name or id.
 */
import type { CreateRoleInput, CustomRole, RoleRule, RoleRuleInput, UpdateRoleInput } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest roles <subcommand>

  list                          the custom roles of your organization
  get ROLE                      one role (by name or id) with its rules
  templates                     the role templates KeyNest ships
  create NAME --permission P... [--project A,B] [--env E,F] [--description TEXT]
                                a role of one rule: the permissions (repeat --permission or
                                give a comma list), in these projects and environments (default:
                                all); never more than you hold yourself
  create NAME --template ID [--project A,B] [--env E,F] [--description TEXT]
                                a role from a template, narrowed to projects (and, for
                                ci-deployer, its environments)
  create NAME --rules JSON      several rules: [{"permissions":[...],"projects":[...],"environments":[...]}]
  update ROLE [--name NEW] [--description TEXT] [--permission P... [--project] [--env] | --rules JSON]
                                change a role: its holders have the new access at once
  delete ROLE                   delete a role nobody holds
Changes need a recent sign-in (keynest login again after 10 minutes).
`;

const RULE_OPTIONS = {
  permission: { type: 'string', multiple: true },
  project: { type: 'string' },
  env: { type: 'string' },
  rules: { type: 'string' },
  description: { type: 'string' },
} as const;
const CREATE_OPTIONS = { ...RULE_OPTIONS, template: { type: 'string' } } as const;
const UPDATE_OPTIONS = { ...RULE_OPTIONS, name: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('roles', argv, io, { list, get, templates, create, update, delete: remove }, USAGE, { ...CREATE_OPTIONS, ...UPDATE_OPTIONS });
}

const commaList = (text: string | undefined): string[] | undefined => (text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter(Boolean));

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const roles = await client.listRoles();
  emit(io, globals, { roles }, () =>
    roles.length === 0 ? 'No custom roles.' : table(['ID', 'NAME', 'RULES', 'UPDATED'], roles.map((r) => [r.id, r.name, r.rules.map(ruleText).join('; '), when(r.updatedAt)])),
  );
  return 0;
}

async function get(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [ref] = expectPositionals(positionals, ['ROLE']);
  const { client } = connect(io, globals, { auth: true });
  const role = await client.getRole(ref!);
  emit(io, globals, { role }, () => describe(role));
  return 0;
}

async function templates(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const found = await client.listRoleTemplates();
  emit(io, globals, { templates: found }, () =>
    table(
      ['TEMPLATE', 'DESCRIPTION', 'RULES'],
      found.map((t) => [t.id, t.description, t.rules.map((r) => ruleText({ ...r, projects: r.projects === '*' ? '*' : r.projects.map((p) => ({ id: p, name: p })) })).join('; ') + (t.choosesEnvironments ? ' (environments: --env)' : '')]),
    ),
  );
  return 0;
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, CREATE_OPTIONS, USAGE);
  const [name] = expectPositionals(positionals, ['NAME']);
  const description = values.description !== undefined ? { description: values.description } : {};
  let input: CreateRoleInput;
  if (values.template !== undefined) {
    if (values.permission !== undefined || values.rules !== undefined) throw new UsageError('give --template, --permission or --rules, not several');
    const projects = commaList(values.project);
    const environments = commaList(values.env);
    input = { name: name!, template: values.template, ...(projects && { projects }), ...(environments && { environments }), ...description };
  } else {
    input = { name: name!, rules: rulesOf(values), ...description };
  }
  const { client } = connect(io, globals, { auth: true });
  const role = await client.createRole(input);
  emit(io, globals, { role }, () => `Created role ${role.name} (${role.id}).\n${describe(role)}`);
  return 0;
}

async function update(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, UPDATE_OPTIONS, USAGE);
  const [ref] = expectPositionals(positionals, ['ROLE']);
  const change: UpdateRoleInput = {
    ...(values.name !== undefined && { name: values.name }),
    ...(values.description !== undefined && { description: values.description }),
    ...((values.permission !== undefined || values.rules !== undefined || values.project !== undefined || values.env !== undefined) && { rules: rulesOf(values) }),
  };
  if (Object.keys(change).length === 0) throw new UsageError('nothing to change: give --name, --description, --permission or --rules');
  const { client } = connect(io, globals, { auth: true });
  const role = await client.updateRole(ref!, change);
  emit(io, globals, { role }, () => `Updated role ${role.name} (${role.id}).\n${describe(role)}`);
  return 0;
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [ref] = expectPositionals(positionals, ['ROLE']);
  const { client } = connect(io, globals, { auth: true });
  await client.deleteRole(ref!);
  emit(io, globals, { deleted: ref }, () => `Deleted role ${ref}.`);
  return 0;
}

/** One rule from --permission/--project/--env, or several from --rules JSON. */
function rulesOf(values: { permission?: string[]; project?: string; env?: string; rules?: string }): RoleRuleInput[] {
  if (values.rules !== undefined) {
    if (values.permission !== undefined || values.project !== undefined || values.env !== undefined) throw new UsageError('give --rules, or --permission with --project/--env, not both');
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.rules);
    } catch {
      throw new UsageError('--rules must be a JSON array of rules');
    }
    if (!Array.isArray(parsed)) throw new UsageError('--rules must be a JSON array of rules');
    return parsed as RoleRuleInput[];
  }
  const permissions = (values.permission ?? []).flatMap((p) => commaList(p) ?? []);
  if (permissions.length === 0) throw new UsageError('missing --permission (or --template, or --rules)');
  const projects = commaList(values.project);
  const environments = commaList(values.env);
  return [{ permissions, ...(projects && { projects }), ...(environments && { environments }) }];
}

function ruleText(r: RoleRule): string {
  const projects = r.projects === '*' ? 'all projects' : r.projects.map((p) => p.name).join(',');
  const envs = r.environments === '*' ? 'all environments' : r.environments.join(',');
  return `${r.permissions.join(',')} in ${projects} / ${envs}`;
}

function describe(role: CustomRole): string {
  const head = role.description ? `${role.name}: ${role.description}` : role.name;
  return `${head}\n${table(['PERMISSIONS', 'PROJECTS', 'ENVIRONMENTS'], role.rules.map((r) => [r.permissions.join(','), r.projects === '*' ? '*' : r.projects.map((p) => p.name).join(','), r.environments === '*' ? '*' : r.environments.join(',')]))}`;
}
