import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import type { AuditService } from './service.js';

export function auditRoutes(app: FastifyInstance, deps: { audit: AuditService }): void {
  app.get('/api/v1/audit', {
    config: { access: { permission: 'audit:read', sessionOnly: true } },
    schema: {
      tags: ['audit'],
      summary: "The org's audit events, newest first",
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 500 }, before: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } },
      },
    },
    handler: async (req) => {
      const q = req.query as { limit?: number; before?: number };
      const opts = { limit: q.limit ?? 100, ...(q.before !== undefined ? { before: q.before } : {}) };
      return { events: await deps.audit.list(callerOf(req).principal.orgId, opts) };
    },
  });
}
