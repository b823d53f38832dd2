import type { FastifyInstance } from 'fastify';
import type { Clock } from '../context.js';
import { PASSWORD_MAX_LENGTH } from '../crypto/passwords.js';
import { callerOf } from '../http/access.js';
import { clearRefreshCookie } from '../http/cookies.js';
import { noContent, text } from '../http/schemas.js';
import type { OrgService } from '../orgs/service.js';
import type { IdentityService } from './service.js';
import { answerSignIn, credentialsProperties, credentialsRequired, refreshTokenDelivery } from './token-routes.js';

export const email = { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^\\s@\\u0000-\\u001f\\u007f]+@[^\\s@\\u0000-\\u001f\\u007f]+$' } as const;
// Only the hard bound here: the password policy judges the rest and says which rule failed (weak_password).
const password = { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH } as const;
const userSchema = { type: 'object', additionalProperties: false, required: ['id', 'email'], properties: { id: { type: 'string' }, email: { type: 'string' } } } as const;
const orgSchema = { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } as const;
export const signedIn = {
  type: 'object',
  additionalProperties: false,
  required: ['user', 'org', ...credentialsRequired],
  properties: { user: userSchema, org: orgSchema, ...credentialsProperties },
} as const;

export function identityRoutes(app: FastifyInstance, deps: { identity: IdentityService; orgs: OrgService; clock: Clock }): void {
  const { identity, orgs, clock } = deps;

  app.get('/api/v1/setup', {
    config: { access: { public: 'a fresh instance must be discoverable before anyone exists' } },
    schema: {
      tags: ['identity'],
      summary: 'Whether this instance still needs its first setup',
      response: { 200: { type: 'object', additionalProperties: false, required: ['setupRequired'], properties: { setupRequired: { type: 'boolean' } } } },
    },
    handler: async () => ({ setupRequired: !(await identity.isSetUp()) }),
  });

  app.post('/api/v1/setup', {
    config: { access: { public: 'guarded by the one-time setup token printed at first start' } },
    schema: {
      tags: ['identity'],
      summary: 'Create the first organization and its owner with the one-time setup token',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['setupToken', 'email', 'password', 'orgName'],
        properties: {
          setupToken: { type: 'string', minLength: 1, maxLength: 200 },
          email,
          password,
          orgName: { type: 'string', minLength: 1, maxLength: 100, pattern: '^(?=.*\\S)[^\\u0000-\\u001f\\u007f]+$' },
          refreshTokenDelivery,
        },
      },
      response: { 201: signedIn },
    },
    handler: async (req, reply) => {
      type Setup = { setupToken: string; email: string; password: string; orgName: string };
      return reply.code(201).send(await answerSignIn(req, reply, clock, (body: Setup, ctx) => identity.setup(body, ctx)));
    },
  });

  app.post('/api/v1/auth/login', {
    config: { access: { public: 'signing in is how a caller gets credentials' } },
    schema: {
      tags: ['identity'],
      summary: 'Sign in with email and password; returns an access token and a refresh token',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['email', 'password'],
        // Any length is checked (and fails) the same way, so the schema does not hint at policy.
        properties: {
          email: text(1, 254),
          password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH },
          rememberMe: { type: 'boolean', description: 'A long session (KEYNEST_SESSION_REMEMBER_TTL_S) instead of the default' },
          totp: { type: 'string', maxLength: 16, description: 'The authenticator code, when the account has two-factor authentication' },
          backupCode: { type: 'string', maxLength: 32, description: 'A backup code instead of the authenticator code (each works once)' },
          org: { ...text(1, 100), description: 'The organization to sign in to (id or name), for a member of several; default: the first joined' },
          refreshTokenDelivery,
        },
      },
      response: { 200: signedIn },
    },
    handler: async (req, reply) => {
      type Login = { email: string; password: string; rememberMe?: boolean; totp?: string; backupCode?: string; org?: string };
      return answerSignIn(req, reply, clock, (body: Login, ctx) => identity.login(body, ctx));
    },
  });

  app.post('/api/v1/auth/logout', {
    config: { access: { authenticated: 'a user ends their own session', sessionOnly: true, duringEnrolment: true } },
    schema: { tags: ['identity'], summary: 'End the current session: its access and refresh tokens stop working at once', response: { 204: noContent } },
    handler: async (req, reply) => {
      await identity.logout(callerOf(req));
      clearRefreshCookie(reply);
      return reply.code(204).send();
    },
  });

  app.post('/api/v1/auth/reauth', {
    config: { access: { authenticated: 'a user proves themselves again on their own session', sessionOnly: true, duringEnrolment: true } },
    schema: {
      tags: ['identity'],
      summary: 'Re-authenticate (password, and a code when 2FA is on) so that step-up actions are allowed for a while',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['password'],
        properties: { password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH }, totp: text(1, 32), backupCode: text(1, 32) },
      },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await identity.reauthenticate(callerOf(req), req.body as { password: string; totp?: string; backupCode?: string });
      return reply.code(204).send();
    },
  });

  app.post('/api/v1/me/password', {
    config: { access: { authenticated: 'a user changes their own password', sessionOnly: true } },
    schema: {
      tags: ['identity'],
      summary: 'Change your password (the current one is required); your other sessions end',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['currentPassword', 'newPassword'],
        properties: { currentPassword: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH }, newPassword: password },
      },
      response: { 200: { type: 'object', additionalProperties: false, required: ['otherSessionsEnded'], properties: { otherSessionsEnded: { type: 'integer' } } } },
    },
    handler: async (req) => identity.changePassword(callerOf(req), req.body as { currentPassword: string; newPassword: string }),
  });

  app.get('/api/v1/me', {
    config: { access: { authenticated: 'a caller may always ask who it is', duringEnrolment: true } },
    schema: { tags: ['identity'], summary: 'Who is calling' },
    handler: async (req) => {
      const p = callerOf(req).principal;
      const org = await orgs.getOrg(p.orgId);
      return p.type === 'user'
        ? { principal: { type: 'user', user: { id: p.userId, email: p.email }, role: p.role, org, mustEnrolTwoFactor: p.mustEnrolTwoFactor } }
        : {
            principal: {
              type: 'token',
              token: { id: p.tokenId, name: p.name },
              org,
              owner: p.owner,
              scope: {
                type: p.scope.type,
                access: p.scope.access,
                permissions: [...p.scope.permissions].sort(),
                grants: p.scope.grants,
                // The first grant, as the original one-environment contract named it.
                projectId: p.scope.grants[0]?.projectId ?? null,
                environmentId: p.scope.grants[0]?.environmentId ?? null,
              },
            },
          };
    },
  });
}
