import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { noContent, text } from '../http/schemas.js';
import type { ProjectService } from '../projects/service.js';
import { AppError } from '../errors.js';
import { TOKEN_ACCESS, type TokenAccess } from './permissions.js';
import { MAX_TOKEN_TTL_S, type ApiTokenService } from './service.js';

const ref = { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } as const;
const tokenInfo = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'prefix', 'project', 'environment', 'access', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    prefix: { type: 'string' },
    project: ref,
    environment: ref,
    access: { type: 'string', enum: [...TOKEN_ACCESS] },
    createdAt: { type: 'string' },
    expiresAt: { type: ['string', 'null'] },
    lastUsedAt: { type: ['string', 'null'] },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

export function tokenRoutes(app: FastifyInstance, deps: { tokens: ApiTokenService; projects: ProjectService }): void {
  const { tokens, projects } = deps;

  app.get('/api/v1/tokens', {
    config: { access: { permission: 'token:manage', sessionOnly: true } },
    schema: {
      tags: ['tokens'],
      summary: "List the org's API tokens (never the tokens themselves)",
      response: { 200: { type: 'object', additionalProperties: false, required: ['tokens'], properties: { tokens: { type: 'array', items: tokenInfo } } } },
    },
    handler: async (req) => ({ tokens: await tokens.list(callerOf(req)) }),
  });

  app.post('/api/v1/tokens', {
    config: { access: { permission: 'token:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['tokens'],
      summary: 'Create an API token scoped to one project environment; the token is shown only in this answer',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'project', 'environment', 'access'],
        properties: {
          name: text(1, 100),
          project: text(1, 100),
          environment: text(1, 100),
          access: { type: 'string', enum: [...TOKEN_ACCESS] },
          expiresInSeconds: { type: ['integer', 'null'], minimum: 60, maximum: MAX_TOKEN_TTL_S },
        },
      },
      response: { 201: { type: 'object', additionalProperties: false, required: ['token', 'info'], properties: { token: { type: 'string' }, info: tokenInfo } } },
    },
    handler: async (req, reply) => {
      const body = req.body as { name: string; project: string; environment: string; access: TokenAccess; expiresInSeconds?: number | null };
      const caller = callerOf(req);
      const target = await projects.resolve(caller.principal, body.project, body.environment);
      if (!target.environment) throw new AppError('environment_not_found', 'Environment not found');
      const created = await tokens.create(caller, {
        name: body.name,
        target: { project: target.project, environment: target.environment },
        access: body.access,
        expiresInSeconds: body.expiresInSeconds ?? null,
      });
      return reply.code(201).send(created);
    },
  });

  app.delete('/api/v1/tokens/:id', {
    config: { access: { permission: 'token:manage', sessionOnly: true } },
    schema: {
      tags: ['tokens'],
      summary: 'Revoke an API token (it stops working at once)',
      params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: text(1, 100) } },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await tokens.revoke(callerOf(req), (req.params as { id: string }).id);
      return reply.code(204).send();
    },
  });
}
