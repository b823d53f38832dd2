import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { REQUIRE_2FA } from '../orgs/service.js';
import { STALE_REASONS, type SecurityOverview } from './service.js';

const time = { type: 'string', format: 'date-time' } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [schema, { type: 'null' }] }) as const;
const nullableText = { type: ['string', 'null'] } as const;
const count = { type: 'integer', minimum: 0 } as const;
const object = <P extends Record<string, object>>(properties: P) => ({ type: 'object', additionalProperties: false, required: Object.keys(properties), properties }) as const;

/** The answer's shape: it is also the list of what may leave (fields not named here are dropped). */
const STATUS = object({
  generatedAt: time,
  window: object({ from: time, to: time }),
  failedSignIns: object({ total: count, byIp: { type: 'array', items: object({ ip: nullableText, attempts: count, accounts: count, lastAt: time }) } }),
  lockouts: object({ total: count, recent: { type: 'array', items: object({ at: time, userId: nullableText, email: nullableText, ip: nullableText }) } }),
  rateLimits: object({ scope: { type: 'string', enum: ['instance'] }, since: time, refused: count, byLimit: { type: 'object', additionalProperties: count } }),
  twoFactor: object({
    members: count,
    enabled: count,
    rate: { type: 'number', minimum: 0, maximum: 1 },
    required: { type: 'string', enum: [...REQUIRE_2FA] },
    adminsWithout: {
      type: 'array',
      items: object({ userId: { type: 'string' }, email: { type: 'string' }, role: { type: 'string' }, customRole: nullable(object({ id: { type: 'string' }, name: { type: 'string' } })) }),
    },
  }),
  staleTokens: {
    type: 'array',
    items: object({
      id: { type: 'string' },
      name: { type: 'string' },
      owner: { type: 'string', enum: ['user', 'org'] },
      createdBy: object({ id: { type: 'string' }, email: nullableText }),
      createdAt: time,
      lastUsedAt: nullable(time),
      expiresAt: nullable(time),
      reasons: { type: 'array', items: { type: 'string', enum: [...STALE_REASONS] } },
    }),
  },
  activeSessions: count,
});

export function securityRoutes(app: FastifyInstance, deps: { security: SecurityOverview }): void {
  app.get('/api/v1/security/status', {
    // A summary of the audit log (failed sign-ins by address, locks) with who lacks 2FA and which
    // tokens went stale: for whoever may read the log, from a signed-in session.
    config: { access: { permission: 'audit:read', sessionOnly: true } },
    schema: {
      tags: ['security'],
      summary: "The org's security at a glance: the last 24 hours of failed sign-ins by address and of account locks, rate-limit refusals, 2FA adoption (and which admins lack it), stale API tokens, active sessions",
      querystring: { type: 'object', additionalProperties: false, properties: {} },
      response: { 200: STATUS },
    },
    handler: async (req) => deps.security.status(callerOf(req)),
  });
}
