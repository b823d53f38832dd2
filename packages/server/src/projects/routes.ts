import type { FastifyInstance } from 'fastify';
import { callerOf, targetOf } from '../http/access.js';
import { envParams, environment, noContent, project, projectParams } from '../http/schemas.js';
import type { ProjectService } from './service.js';

const nameSchema = { type: 'string', minLength: 1, maxLength: 63 } as const;

export function projectRoutes(app: FastifyInstance, deps: { projects: ProjectService }): void {
  const { projects } = deps;

  app.get('/api/v1/projects', {
    config: { access: { permission: 'project:read' } },
    schema: {
      tags: ['projects'],
      summary: 'List the projects the caller can see',
      response: { 200: { type: 'object', additionalProperties: false, required: ['projects'], properties: { projects: { type: 'array', items: project } } } },
    },
    handler: async (req) => ({ projects: await projects.list(callerOf(req).principal) }),
  });

  app.post('/api/v1/projects', {
    config: { access: { permission: 'project:create', sessionOnly: true } },
    schema: {
      tags: ['projects'],
      summary: 'Create a project (with development, staging and production unless environments are given)',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: nameSchema, environments: { type: 'array', maxItems: 50, items: nameSchema } },
      },
      response: { 201: { type: 'object', additionalProperties: false, required: ['project'], properties: { project } } },
    },
    handler: async (req, reply) => {
      const body = req.body as { name: string; environments?: string[] };
      const created = await projects.create(callerOf(req), body.name, body.environments);
      return reply.code(201).send({ project: created });
    },
  });

  app.get('/api/v1/projects/:project', {
    config: { access: { permission: 'project:read' } },
    schema: {
      tags: ['projects'],
      summary: 'One project with its environments',
      params: projectParams,
      response: { 200: { type: 'object', additionalProperties: false, required: ['project'], properties: { project } } },
    },
    handler: async (req) => ({ project: await projects.get(callerOf(req).principal, targetOf(req)) }),
  });

  app.delete('/api/v1/projects/:project', {
    config: { access: { permission: 'project:delete', sessionOnly: true, stepUp: 'always' } },
    schema: { tags: ['projects'], summary: 'Delete a project with all its environments and secrets', params: projectParams, response: { 204: noContent } },
    handler: async (req, reply) => {
      await projects.delete(callerOf(req), targetOf(req));
      return reply.code(204).send();
    },
  });

  app.get('/api/v1/projects/:project/environments', {
    config: { access: { permission: 'project:read' } },
    schema: {
      tags: ['projects'],
      summary: "List a project's environments",
      params: projectParams,
      response: {
        200: { type: 'object', additionalProperties: false, required: ['environments'], properties: { environments: { type: 'array', items: environment } } },
      },
    },
    handler: async (req) => ({ environments: await projects.listEnvironments(callerOf(req).principal, targetOf(req)) }),
  });

  app.post('/api/v1/projects/:project/environments', {
    config: { access: { permission: 'environment:manage', sessionOnly: true } },
    schema: {
      tags: ['projects'],
      summary: 'Create an environment',
      params: projectParams,
      body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: nameSchema } },
      response: { 201: { type: 'object', additionalProperties: false, required: ['environment'], properties: { environment } } },
    },
    handler: async (req, reply) => {
      const env = await projects.createEnvironment(callerOf(req), targetOf(req), (req.body as { name: string }).name);
      return reply.code(201).send({ environment: env });
    },
  });

  app.delete('/api/v1/projects/:project/environments/:env', {
    config: { access: { permission: 'environment:manage', sessionOnly: true } },
    schema: { tags: ['projects'], summary: 'Delete an environment with its secrets', params: envParams, response: { 204: noContent } },
    handler: async (req, reply) => {
      await projects.deleteEnvironment(callerOf(req), targetOf(req));
      return reply.code(204).send();
    },
  });
}
