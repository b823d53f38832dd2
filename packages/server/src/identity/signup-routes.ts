import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../context.js';
import { PASSWORD_MAX_LENGTH } from '../crypto/passwords.js';
import { anonymousOf } from '../http/access.js';
import { text } from '../http/schemas.js';
import type { AcceptInput, InvitationAcceptance } from './invitation-acceptance.js';
import { email, signedIn } from './routes.js';
import { answerSignIn, refreshTokenDelivery } from './token-routes.js';
import type { OpenSignup } from './signup.js';

const password = { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH } as const;
const linkToken = text(1, 100);
const rememberMe = { type: 'boolean', description: 'A long session (KEYNEST_SESSION_REMEMBER_TTL_S) instead of the default' } as const;
/** The one answer to every sign-up request: it must not differ with what happened behind it. */
export const SIGNUP_ANSWER = { status: 'sent_if_allowed' } as const;

export function signupRoutes(app: FastifyInstance, deps: { signup: OpenSignup; acceptance: InvitationAcceptance; clock: Clock }): void {
  const { signup, acceptance, clock } = deps;
  const anonymous = (req: FastifyRequest) => anonymousOf(req, clock);

  app.post('/api/v1/auth/signup', {
    config: { access: { public: 'someone without an account asks for one' } },
    schema: {
      tags: ['identity'],
      summary: 'Ask to sign up: if the organization has open sign-up for this email, a link (24 h, single use) is mailed; the answer is the same either way',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['email', 'password'],
        properties: { email, password, org: { ...text(1, 100), description: 'The organization (id or name); needed only when the instance has more than one' } },
      },
      response: {
        202: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: { status: { type: 'string', description: 'Always "sent_if_allowed": the answer never says whether sign-up is open, or the account exists' } },
        },
      },
    },
    handler: async (req, reply) => {
      await signup.request(req.body as { email: string; password: string; org?: string }, anonymous(req));
      return reply.code(202).send(SIGNUP_ANSWER);
    },
  });

  app.post('/api/v1/auth/signup/verify', {
    config: { access: { public: 'the mailed single-use token and the password chosen when signing up are the credentials' } },
    schema: {
      tags: ['identity'],
      summary: 'Finish signing up with the mailed token and the password chosen then: creates the account (email verified) and signs in',
      body: { type: 'object', additionalProperties: false, required: ['token', 'password'], properties: { token: linkToken, password, rememberMe, refreshTokenDelivery } },
      response: { 201: signedIn },
    },
    handler: async (req, reply) => {
      type Verify = { token: string; password: string; rememberMe?: boolean };
      return reply.code(201).send(await answerSignIn(req, reply, clock, (body: Verify, ctx) => signup.verify(body, ctx)));
    },
  });

  app.post('/api/v1/auth/invitations/accept', {
    config: { access: { public: 'the mailed single-use invitation token is the credential (with the password of an existing account)' } },
    schema: {
      tags: ['identity'],
      summary: 'Accept an invitation: creates the account with this password, or joins with an existing account (its password, and a code when it has 2FA); signs in',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['token', 'password'],
        properties: {
          token: linkToken,
          password,
          rememberMe,
          totp: { type: 'string', maxLength: 16, description: 'An existing account with two-factor authentication: a current code' },
          backupCode: { type: 'string', maxLength: 32, description: 'Or one of its backup codes' },
          refreshTokenDelivery,
        },
      },
      response: { 201: signedIn },
    },
    handler: async (req, reply) => {
      return reply.code(201).send(await answerSignIn(req, reply, clock, (body: AcceptInput, ctx) => acceptance.accept(body, ctx)));
    },
  });
}
