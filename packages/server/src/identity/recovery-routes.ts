import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../context.js';
import { PASSWORD_MAX_LENGTH } from '../crypto/passwords.js';
import { anonymousOf, callerOf } from '../http/access.js';
import { noContent, text } from '../http/schemas.js';
import type { AccountRecovery } from './recovery.js';

const accepted = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: { status: { type: 'string', description: 'Always "sent_if_exists": the answer never says whether the account exists' } },
} as const;
const linkToken = text(1, 100);

export function recoveryRoutes(app: FastifyInstance, deps: { recovery: AccountRecovery; clock: Clock }): void {
  const { recovery, clock } = deps;
  const anonymous = (req: FastifyRequest) => anonymousOf(req, clock);

  app.post('/api/v1/auth/password-reset', {
    config: { access: { public: 'a user who forgot their password has no credentials' } },
    schema: {
      tags: ['identity'],
      summary: 'Mail a password-reset link (valid 30 min, single use) if the email has an account; the answer is the same either way',
      body: { type: 'object', additionalProperties: false, required: ['email'], properties: { email: text(1, 254) } },
      response: { 202: accepted },
    },
    handler: async (req, reply) => {
      await recovery.requestReset((req.body as { email: string }).email.trim().toLowerCase(), anonymous(req));
      return reply.code(202).send({ status: 'sent_if_exists' });
    },
  });

  app.post('/api/v1/auth/password-reset/confirm', {
    config: { access: { public: 'the mailed single-use token is the credential' } },
    schema: {
      tags: ['identity'],
      summary: 'Set a new password with the token from the reset mail; every session of the user ends',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['token', 'newPassword'],
        properties: { token: linkToken, newPassword: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH } },
      },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await recovery.confirmReset(req.body as { token: string; newPassword: string }, anonymous(req));
      return reply.code(204).send();
    },
  });

  app.post('/api/v1/me/email/verification', {
    config: { access: { authenticated: 'a user proves they own their own address', sessionOnly: true, duringEnrolment: true } },
    schema: { tags: ['identity'], summary: 'Mail yourself a verification link (valid 24 h, single use)', response: { 202: accepted } },
    handler: async (req, reply) => {
      await recovery.requestVerification(callerOf(req));
      return reply.code(202).send({ status: 'sent_if_exists' });
    },
  });

  app.post('/api/v1/auth/verify-email', {
    config: { access: { public: 'the mailed single-use token is the credential' } },
    schema: {
      tags: ['identity'],
      summary: 'Confirm an email address with the token from the verification mail',
      body: { type: 'object', additionalProperties: false, required: ['token'], properties: { token: linkToken } },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await recovery.verifyEmail((req.body as { token: string }).token, anonymous(req));
      return reply.code(204).send();
    },
  });
}
