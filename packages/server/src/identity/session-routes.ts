import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { noContent, text } from '../http/schemas.js';
import type { SessionService } from './sessions.js';

const nullableString = { type: ['string', 'null'] } as const;
const session = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'current', 'createdAt', 'lastActiveAt', 'expiresAt', 'idleExpiresAt', 'rememberMe', 'secondFactor', 'ip', 'userAgent', 'device', 'location'],
  properties: {
    id: { type: 'string' },
    current: { type: 'boolean', description: 'The session this request was made with' },
    createdAt: { type: 'string', format: 'date-time' },
    lastActiveAt: { type: 'string', format: 'date-time', description: 'Updated at most once a minute' },
    expiresAt: { type: 'string', format: 'date-time', description: 'Absolute end' },
    idleExpiresAt: { type: 'string', format: 'date-time', description: 'When it ends if unused until then' },
    rememberMe: { type: 'boolean' },
    secondFactor: { type: 'string', enum: ['none', 'totp', 'backup_code'], description: 'The second factor the sign-in used (the session’s 2FA level)' },
    ip: nullableString,
    userAgent: nullableString,
    device: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'browser', 'os'],
      properties: { type: { type: 'string', enum: ['desktop', 'mobile', 'tablet', 'cli', 'bot', 'unknown'] }, browser: nullableString, os: nullableString },
    },
    location: {
      type: ['object', 'null'],
      description: 'Where the sign-in came from, by the GeoIP database (KEYNEST_GEOIP_DB) at the time; null without one or for an address it does not know. A hint, not a fact',
      additionalProperties: false,
      required: ['countryCode', 'country', 'city'],
      properties: {
        countryCode: { ...nullableString, description: 'ISO 3166-1 alpha-2 (DE)' },
        country: { ...nullableString, description: 'English name (Germany)' },
        city: { ...nullableString, description: 'English name (Berlin)' },
      },
    },
  },
} as const;
const revokedCount = { type: 'object', additionalProperties: false, required: ['revoked'], properties: { revoked: { type: 'integer' } } } as const;
const own = { authenticated: 'a user sees and ends only their own sessions', sessionOnly: true, duringEnrolment: true } as const;

/** A signed-in user's own sessions: list them, end one, end all others, end all. */
export function sessionRoutes(app: FastifyInstance, deps: { sessions: SessionService }): void {
  const { sessions } = deps;

  app.get('/api/v1/me/sessions', {
    config: { access: own },
    schema: {
      tags: ['identity'],
      summary: 'Your live sessions in this organization, newest first',
      response: { 200: { type: 'object', additionalProperties: false, required: ['sessions'], properties: { sessions: { type: 'array', items: session } } } },
    },
    handler: async (req) => ({ sessions: await sessions.list(callerOf(req)) }),
  });

  app.delete('/api/v1/me/sessions/:id', {
    config: { access: own },
    schema: {
      tags: ['identity'],
      summary: 'End one of your sessions (ending the current one signs you out)',
      params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: text(1, 64) } },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await sessions.revoke(callerOf(req), (req.params as { id: string }).id, 'revoked');
      return reply.code(204).send();
    },
  });

  app.post('/api/v1/me/sessions/revoke-others', {
    config: { access: own },
    schema: { tags: ['identity'], summary: 'End every session of yours except this one', response: { 200: revokedCount } },
    handler: async (req) => ({ revoked: await sessions.revokeMany(callerOf(req), 'others') }),
  });

  app.delete('/api/v1/me/sessions', {
    config: { access: own },
    schema: { tags: ['identity'], summary: 'End every session of yours, this one included', response: { 200: revokedCount } },
    handler: async (req) => ({ revoked: await sessions.revokeMany(callerOf(req), 'all') }),
  });
}
