import type { RoleRule } from '../access/member-access.js';

/**
 * The role templates KeyNest ships (issue 4): starting points for the common cases, turned into an
 * org's own custom role by `POST /api/v1/roles {template}`, optionally narrowed to projects. They
 * are code, not rows: a template changed in a release changes no existing role.
 */
export interface RoleTemplate {
  id: string;
  name: string;
  description: string;
  rules: readonly RoleRule[];
  /** The environments are the creator's choice (`environments` is then required). */
  choosesEnvironments: boolean;
}

export const ROLE_TEMPLATES: readonly RoleTemplate[] = [
  {
    id: 'ci-deployer',
    name: 'CI deployer',
    description: 'Reads secret values in the chosen environments, for a pipeline run by a person; nothing else',
    rules: [{ permissions: ['project:read', 'secret:read_values'], projects: '*', environments: '*' }],
    choosesEnvironments: true,
  },
  {
    id: 'auditor',
    name: 'Auditor',
    description: 'Reads keys, versions, members and the audit log; never a value',
    rules: [
      { permissions: ['project:read', 'secret:read_keys'], projects: '*', environments: '*' },
      { permissions: ['member:read', 'audit:read'], projects: '*', environments: '*' },
    ],
    choosesEnvironments: false,
  },
  {
    id: 'contractor',
    name: 'Contractor',
    description: 'Reads and writes values in development and staging; keys only in production',
    rules: [
      { permissions: ['project:read', 'secret:read_keys', 'secret:read_values', 'secret:write'], projects: '*', environments: ['development', 'staging'] },
      { permissions: ['project:read', 'secret:read_keys'], projects: '*', environments: ['production'] },
    ],
    choosesEnvironments: false,
  },
];

export function findTemplate(id: string): RoleTemplate | undefined {
  return ROLE_TEMPLATES.find((t) => t.id === id);
}
