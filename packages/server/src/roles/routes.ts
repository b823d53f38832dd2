import type { FastifyInstance } from 'fastify';
import { PERMISSIONS } from '../access/permissions.js';
import { AppError } from '../errors.js';
import { callerOf } from '../http/access.js';
import { isoTime, noContent, text } from '../http/schemas.js';
import type { RoleChange, RoleInput, RoleService } from './service.js';

const MAX_RULES = 50;
const MAX_REFS = 100;

const permission = { type: 'string', enum: [...PERMISSIONS] } as const;
const all = { type: 'string', enum: ['*'] } as const;
const names = { type: 'array', minItems: 1, maxItems: MAX_REFS, items: text(1, 100) } as const;
const selector = { anyOf: [all, names] } as const;
const ruleInput = {
  type: 'object',
  additionalProperties: false,
  required: ['permissions'],
  properties: {
    permissions: { type: 'array', minItems: 1, maxItems: PERMISSIONS.length, items: permission },
    projects: { ...selector, description: 'Project names or ids, or "*" (the default) for every project' },
    environments: { ...selector, description: 'Environment names (in every chosen project), or "*" (the default)' },
  },
} as const;
const ref = { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } as const;
const ruleView = {
  type: 'object',
  additionalProperties: false,
  required: ['permissions', 'projects', 'environments'],
  properties: {
    permissions: { type: 'array', items: { type: 'string' } },
    projects: { anyOf: [all, { type: 'array', items: ref }] },
    environments: { anyOf: [all, { type: 'array', items: { type: 'string' } }] },
  },
} as const;
const role = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'description', 'rules', 'createdAt', 'updatedAt'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, description: { type: ['string', 'null'] }, rules: { type: 'array', items: ruleView }, createdAt: isoTime, updatedAt: isoTime },
} as const;
const template = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'description', 'rules', 'choosesEnvironments'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    rules: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['permissions', 'projects', 'environments'], properties: { permissions: { type: 'array', items: { type: 'string' } }, projects: { anyOf: [all, { type: 'array', items: { type: 'string' } }] }, environments: { anyOf: [all, { type: 'array', items: { type: 'string' } }] } } } },
    choosesEnvironments: { type: 'boolean' },
  },
} as const;
const roleParams = { type: 'object', additionalProperties: false, required: ['role'], properties: { role: text(1, 100) } } as const;
const description = { anyOf: [text(0, 500), { type: 'null' }] } as const;
const roleAnswer = { type: 'object', additionalProperties: false, required: ['role'], properties: { role } } as const;

/** Custom roles and the shipped templates (issue 4); see docs/permissions.md. */
export function roleRoutes(app: FastifyInstance, deps: { roles: RoleService }): void {
  const { roles } = deps;
  // Reading roles is for every member (as the members list is); changing them needs role:manage,
  // from a session with a recent sign-in, since a role hands out access.
  const change = { permission: 'role:manage', sessionOnly: true, stepUp: 'always' } as const;

  app.get('/api/v1/role-templates', {
    config: { access: { permission: 'member:read', sessionOnly: true } },
    schema: {
      tags: ['roles'],
      summary: 'The role templates KeyNest ships (create a custom role from one with POST /api/v1/roles {template})',
      response: { 200: { type: 'object', additionalProperties: false, required: ['templates'], properties: { templates: { type: 'array', items: template } } } },
    },
    handler: async () => ({ templates: roles.templates() }),
  });

  app.get('/api/v1/roles', {
    config: { access: { permission: 'member:read', sessionOnly: true } },
    schema: {
      tags: ['roles'],
      summary: 'The custom roles of your organization',
      response: { 200: { type: 'object', additionalProperties: false, required: ['roles'], properties: { roles: { type: 'array', items: role } } } },
    },
    handler: async (req) => ({ roles: await roles.list(callerOf(req)) }),
  });

  app.get('/api/v1/roles/:role', {
    config: { access: { permission: 'member:read', sessionOnly: true } },
    schema: { tags: ['roles'], summary: 'One custom role, by id or name', params: roleParams, response: { 200: roleAnswer } },
    handler: async (req) => ({ role: await roles.get(callerOf(req), (req.params as { role: string }).role) }),
  });

  app.post('/api/v1/roles', {
    config: { access: change },
    schema: {
      tags: ['roles'],
      summary: 'Create a custom role from rules, or from a template (optionally narrowed to projects): never more than you hold',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: text(1, 63),
          description,
          rules: { type: 'array', minItems: 1, maxItems: MAX_RULES, items: ruleInput },
          template: text(1, 63),
          projects: names,
          environments: names,
        },
      },
      response: { 201: roleAnswer },
    },
    handler: async (req, reply) => {
      const body = req.body as { name: string; description?: string | null; rules?: unknown; template?: string; projects?: string[]; environments?: string[] };
      const fromTemplate = body.template !== undefined;
      if (fromTemplate === (body.rules !== undefined) || (!fromTemplate && (body.projects !== undefined || body.environments !== undefined))) {
        throw new AppError('validation_failed', 'Give either rules, or a template (with projects and environments if wanted)', [{ path: 'body', rule: 'oneOf' }]);
      }
      reply.code(201);
      return { role: await roles.create(callerOf(req), body as RoleInput) };
    },
  });

  app.patch('/api/v1/roles/:role', {
    config: { access: change },
    schema: {
      tags: ['roles'],
      summary: 'Change a custom role: its holders have the new access at their next request',
      params: roleParams,
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: text(1, 63), description, rules: { type: 'array', minItems: 1, maxItems: MAX_RULES, items: ruleInput } } },
      response: { 200: roleAnswer },
    },
    handler: async (req) => ({ role: await roles.update(callerOf(req), (req.params as { role: string }).role, req.body as RoleChange) }),
  });

  app.delete('/api/v1/roles/:role', {
    config: { access: change },
    schema: { tags: ['roles'], summary: 'Delete a custom role nobody holds (else 409 role_in_use)', params: roleParams, response: { 204: noContent } },
    handler: async (req, reply) => {
      await roles.delete(callerOf(req), (req.params as { role: string }).role);
      reply.code(204);
    },
  });
}
