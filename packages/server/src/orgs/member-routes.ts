import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../access/permissions.js';
import { callerOf } from '../http/access.js';
import { isoTime, nullableIsoTime, text } from '../http/schemas.js';
import type { MemberService } from './members.js';

const member = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'email', 'role', 'joinedAt', 'twoFactorEnabled', 'lastActiveAt'],
  properties: {
    userId: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    joinedAt: isoTime,
    twoFactorEnabled: { type: 'boolean' },
    lastActiveAt: { ...nullableIsoTime, description: 'Newest activity of their sessions in this organization (to the minute)' },
  },
} as const;

const memberParams = { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: text(1, 64) } } as const;

export function memberRoutes(app: FastifyInstance, deps: { members: MemberService }): void {
  const { members } = deps;

  app.get('/api/v1/org/members', {
    config: { access: { permission: 'member:read', sessionOnly: true } },
    schema: {
      tags: ['org'],
      summary: 'Members of your organization, with their roles',
      response: { 200: { type: 'object', additionalProperties: false, required: ['members'], properties: { members: { type: 'array', items: member } } } },
    },
    handler: async (req) => ({ members: await members.list(callerOf(req)) }),
  });

  app.patch('/api/v1/org/members/:userId', {
    // Step-up: a role hands out (or takes away) access, as an invitation does.
    config: { access: { permission: 'member:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['org'],
      summary: 'Change a member’s role: at most your own, of someone whose role you could give; the last owner stays owner',
      params: memberParams,
      body: { type: 'object', additionalProperties: false, required: ['role'], properties: { role: { type: 'string', enum: [...ROLES] } } },
      response: { 200: { type: 'object', additionalProperties: false, required: ['member'], properties: { member } } },
    },
    handler: async (req) => {
      const { userId } = req.params as { userId: string };
      return { member: await members.changeRole(callerOf(req), userId, (req.body as { role: Role }).role) };
    },
  });

  app.delete('/api/v1/org/members/:userId', {
    config: { access: { permission: 'member:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['org'],
      summary: 'Remove a member: their sessions and API tokens in this organization end at once; answers the secrets they could read, to rotate',
      params: memberParams,
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['revokedSessions', 'revokedTokens', 'readableSecrets'],
          properties: {
            revokedSessions: { type: 'integer' },
            revokedTokens: { type: 'integer' },
            readableSecrets: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['project', 'environment', 'key'],
                properties: { project: { type: 'string' }, environment: { type: 'string' }, key: { type: 'string' } },
              },
            },
          },
        },
      },
    },
    handler: async (req) => members.remove(callerOf(req), (req.params as { userId: string }).userId),
  });
}
