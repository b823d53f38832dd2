import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../access/permissions.js';
import { callerOf, targetOf } from '../http/access.js';
import { isoTime, noContent, projectParams, text } from '../http/schemas.js';
import { customRoleSchema, roleChoice, roleRefOf } from './member-routes.js';
import type { ProjectRoleService } from './project-roles.js';

const projectRole = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'email', 'role', 'customRole', 'setAt'],
  properties: {
    userId: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string', enum: [...ROLES, 'custom'] },
    customRole: customRoleSchema,
    setAt: isoTime,
  },
} as const;

const memberInProject = {
  type: 'object',
  additionalProperties: false,
  required: ['project', 'userId'],
  properties: { ...projectParams.properties, userId: text(1, 64) },
} as const;

/** Per-project member roles (issue 4); see docs/permissions.md. */
export function projectRoleRoutes(app: FastifyInstance, deps: { projectRoles: ProjectRoleService }): void {
  const { projectRoles } = deps;
  const change = { permission: 'member:manage', sessionOnly: true, stepUp: 'always' } as const;

  app.get('/api/v1/projects/:project/member-roles', {
    config: { access: { permission: 'member:read', sessionOnly: true } },
    schema: {
      tags: ['org'],
      summary: 'Members whose role inside this project differs from their organization role',
      params: projectParams,
      response: { 200: { type: 'object', additionalProperties: false, required: ['memberRoles'], properties: { memberRoles: { type: 'array', items: projectRole } } } },
    },
    handler: async (req) => ({ memberRoles: await projectRoles.list(callerOf(req), targetOf(req)) }),
  });

  app.put('/api/v1/projects/:project/member-roles/:userId', {
    config: { access: change },
    schema: {
      tags: ['org'],
      summary: 'Give a member another role (built-in, or custom with roleId) inside this project: never more than you hold there; not for owners',
      params: memberInProject,
      body: roleChoice,
      response: { 200: { type: 'object', additionalProperties: false, required: ['memberRole'], properties: { memberRole: projectRole } } },
    },
    handler: async (req) => {
      const { userId } = req.params as { userId: string };
      return { memberRole: await projectRoles.set(callerOf(req), targetOf(req), userId, roleRefOf(req.body as { role?: Role; roleId?: string })) };
    },
  });

  app.delete('/api/v1/projects/:project/member-roles/:userId', {
    config: { access: change },
    schema: { tags: ['org'], summary: 'Back to the organization role inside this project', params: memberInProject, response: { 204: noContent } },
    handler: async (req, reply) => {
      await projectRoles.clear(callerOf(req), targetOf(req), (req.params as { userId: string }).userId);
      reply.code(204);
    },
  });
}
