import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../access/permissions.js';
import { customRoleSchema, roleRefOf } from './member-routes.js';
import { callerOf } from '../http/access.js';
import { isoTime, noContent, text } from '../http/schemas.js';
import { email as emailSchema } from '../identity/routes.js';
import type { InvitationService } from './invitations.js';

const invitation = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'email', 'role', 'customRole', 'invitedBy', 'createdAt', 'expiresAt'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string', enum: [...ROLES, 'custom'] },
    customRole: customRoleSchema,
    invitedBy: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['id', 'email'],
      properties: { id: { type: 'string' }, email: { type: 'string' } },
    },
    createdAt: isoTime,
    expiresAt: isoTime,
  },
} as const;

/** The admin side of invitations; accepting one is public (identity/signup-routes.ts). */
export function invitationRoutes(app: FastifyInstance, deps: { invitations: InvitationService }): void {
  const { invitations } = deps;

  app.get('/api/v1/org/invitations', {
    config: { access: { permission: 'member:manage', sessionOnly: true } },
    schema: {
      tags: ['org'],
      summary: 'Invitations that can still be accepted (never their tokens)',
      response: { 200: { type: 'object', additionalProperties: false, required: ['invitations'], properties: { invitations: { type: 'array', items: invitation } } } },
    },
    handler: async (req) => ({ invitations: await invitations.list(callerOf(req)) }),
  });

  app.post('/api/v1/org/invitations', {
    // Step-up: an invitation hands out access to the org, as a token does.
    config: { access: { permission: 'member:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['org'],
      summary: 'Invite someone by email with a role (mailed link, single use, 7 days); inviting the address again replaces the pending invitation',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['email'],
        minProperties: 2,
        maxProperties: 2,
        properties: {
          email: emailSchema,
          role: { type: 'string', enum: [...ROLES], description: 'At most your own role: only an owner invites an owner' },
          roleId: { ...text(1, 100), description: 'A custom role (id or name) instead of a built-in one; at most your own access' },
        },
      },
      response: { 201: { type: 'object', additionalProperties: false, required: ['invitation'], properties: { invitation } } },
    },
    handler: async (req, reply) => {
      const body = req.body as { email: string; role?: Role; roleId?: string };
      const created = await invitations.create(callerOf(req), { email: body.email, role: roleRefOf(body) });
      return reply.code(201).send({ invitation: created });
    },
  });

  app.delete('/api/v1/org/invitations/:id', {
    config: { access: { permission: 'member:manage', sessionOnly: true } },
    schema: {
      tags: ['org'],
      summary: 'Revoke an invitation that was not accepted yet: its link stops working',
      params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: text(1, 64) } },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await invitations.revoke(callerOf(req), (req.params as { id: string }).id);
      return reply.code(204).send();
    },
  });
}
