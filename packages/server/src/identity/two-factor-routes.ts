import type { FastifyInstance } from 'fastify';
import { PASSWORD_MAX_LENGTH } from '../crypto/passwords.js';
import { callerOf } from '../http/access.js';
import { noContent } from '../http/schemas.js';
import type { TwoFactorService } from './two-factor.js';

// Allowed while an org policy holds the user to enrolment: this is how they get out of it.
const own = { authenticated: 'a user manages their own second factor', sessionOnly: true, duringEnrolment: true } as const;
const code = { type: 'string', minLength: 1, maxLength: 32 } as const;
const backupCodes = { type: 'object', additionalProperties: false, required: ['backupCodes'], properties: { backupCodes: { type: 'array', items: { type: 'string' } } } } as const;
/** Re-authentication for turning 2FA off or replacing backup codes: the password and a current code. */
const proof = {
  type: 'object',
  additionalProperties: false,
  required: ['password'],
  properties: { password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH }, totp: code, backupCode: code },
} as const;

type Proof = { password: string; totp?: string; backupCode?: string };

export function twoFactorRoutes(app: FastifyInstance, deps: { twoFactor: TwoFactorService }): void {
  const { twoFactor } = deps;

  app.get('/api/v1/me/2fa', {
    config: { access: own },
    schema: {
      tags: ['identity'],
      summary: 'Whether two-factor authentication is on, and how many backup codes are left',
      response: {
        200: { type: 'object', additionalProperties: false, required: ['enabled', 'backupCodesRemaining'], properties: { enabled: { type: 'boolean' }, backupCodesRemaining: { type: 'integer' } } },
      },
    },
    handler: async (req) => twoFactor.status(callerOf(req)),
  });

  app.post('/api/v1/me/2fa/totp', {
    // A stolen session must not be able to bind its own authenticator to the account.
    config: { access: { ...own, stepUp: 'always' } },
    schema: {
      tags: ['identity'],
      summary: 'Start TOTP enrolment: a new secret, its otpauth:// URI and QR codes (confirm with a code to turn it on)',
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['secret', 'uri', 'qr'],
          properties: {
            secret: { type: 'string' },
            uri: { type: 'string' },
            qr: { type: 'object', additionalProperties: false, required: ['png', 'svg'], properties: { png: { type: 'string' }, svg: { type: 'string' } } },
          },
        },
      },
    },
    handler: async (req) => twoFactor.begin(callerOf(req)),
  });

  app.post('/api/v1/me/2fa/totp/confirm', {
    config: { access: { ...own, stepUp: 'always' } },
    schema: {
      tags: ['identity'],
      summary: 'Confirm enrolment with a code from the authenticator; answers the backup codes, shown only here',
      body: { type: 'object', additionalProperties: false, required: ['code'], properties: { code } },
      response: { 200: backupCodes },
    },
    handler: async (req) => twoFactor.confirm(callerOf(req), (req.body as { code: string }).code),
  });

  app.post('/api/v1/me/2fa/disable', {
    config: { access: own },
    schema: { tags: ['identity'], summary: 'Turn two-factor authentication off (password and a current code)', body: proof, response: { 204: noContent } },
    handler: async (req, reply) => {
      await twoFactor.disable(callerOf(req), req.body as Proof);
      return reply.code(204).send();
    },
  });

  app.post('/api/v1/me/2fa/backup-codes', {
    config: { access: own },
    schema: { tags: ['identity'], summary: 'Replace the backup codes (password and a current code); the old ones stop working', body: proof, response: { 200: backupCodes } },
    handler: async (req) => twoFactor.regenerateBackupCodes(callerOf(req), req.body as Proof),
  });
}
