import type { FastifyInstance } from 'fastify';
import type { Clock } from '../context.js';
import { anonymousOf } from '../http/access.js';
import { isoTime, text } from '../http/schemas.js';
import type { EmergencyAccess } from './emergency-access.js';

const email = text(1, 254);
const normalized = (e: string) => e.trim().toLowerCase();

export function emergencyAccessRoutes(app: FastifyInstance, deps: { emergency: EmergencyAccess; clock: Clock }): void {
  const { emergency, clock } = deps;

  app.post('/api/v1/auth/emergency-access', {
    config: { access: { public: 'an owner shut out by the IP allowlist cannot authenticate from where they are' } },
    schema: {
      tags: ['identity'],
      summary: 'Mail an emergency-access code (15 min, single use) to an owner of an organization whose IP allowlist is on; the answer is the same for any email',
      body: { type: 'object', additionalProperties: false, required: ['email'], properties: { email } },
      response: {
        202: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: { status: { type: 'string', description: 'Always "sent_if_exists": the answer never says whether the account exists or is an owner' } },
        },
      },
    },
    handler: async (req, reply) => {
      await emergency.request(normalized((req.body as { email: string }).email), anonymousOf(req, clock));
      return reply.code(202).send({ status: 'sent_if_exists' });
    },
  });

  app.post('/api/v1/auth/emergency-access/confirm', {
    config: { access: { public: 'the mailed single-use code is the credential' } },
    schema: {
      tags: ['identity'],
      summary: 'Let the address this is sent from past the IP allowlist, for the owner the code was mailed to, for KEYNEST_EMERGENCY_ACCESS_S',
      body: { type: 'object', additionalProperties: false, required: ['email', 'code'], properties: { email, code: text(1, 100) } },
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['ip', 'expiresAt', 'orgs'],
          properties: {
            ip: { type: 'string' },
            expiresAt: isoTime,
            orgs: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } },
          },
        },
      },
    },
    handler: async (req) => {
      const body = req.body as { email: string; code: string };
      return emergency.confirm({ email: normalized(body.email), code: body.code.trim() }, anonymousOf(req, clock));
    },
  });
}
