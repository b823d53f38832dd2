import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../access/permissions.js';
import { AppError } from '../errors.js';
import { callerOf } from '../http/access.js';
import type { RoleRef } from '../roles/rules.js';
import { isoTime, nullableIsoTime, text } from '../http/schemas.js';
import type { MemberService } from './members.js';

/** The custom role a member (or an invitation, or a project role) names; null for a built-in one. */
export const customRoleSchema = {
  anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } }],
} as const;

const member = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'email', 'role', 'customRole', 'joinedAt', 'twoFactorEnabled', 'lastActiveAt'],
  properties: {
    userId: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string', enum: [...ROLES, 'custom'] },
    customRole: customRoleSchema,
    joinedAt: isoTime,
    twoFactorEnabled: { type: 'boolean' },
    lastActiveAt: { ...nullableIsoTime, description: 'Newest activity of their sessions in this organization (to the minute)' },
  },
} as const;

/**
 * A role to give, in a request: `{role}` for a built-in one, `{roleId}` (a custom role's id or
 * name) for a custom one.
 */
export const roleChoice = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: { role: { type: 'string', enum: [...ROLES] }, roleId: text(1, 100) },
} as const;

export function roleRefOf(body: { role?: Role; roleId?: string }): RoleRef {
  if (body.role !== undefined) return { role: body.role };
  if (body.roleId !== undefined) return { role: 'custom', roleId: body.roleId };
  throw new AppError('validation_failed', 'Give role (built-in) or roleId (custom)', [{ path: 'body', rule: 'oneOf' }]);
}

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
      summary: 'Change a member’s role (built-in, or custom with roleId): at most your own, of someone whose role you could give; the last owner stays owner',
      params: memberParams,
      body: roleChoice,
      response: { 200: { type: 'object', additionalProperties: false, required: ['member'], properties: { member } } },
    },
    handler: async (req) => {
      const { userId } = req.params as { userId: string };
      return { member: await members.changeRole(callerOf(req), userId, roleRefOf(req.body as { role?: Role; roleId?: string })) };
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
