import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import type { VerifyResult } from './chain.js';
import type { AuditIntegrity } from './integrity.js';
import { auditContextOf } from '../context.js';
import type { AuditService } from './service.js';

const ACCESS = { permission: 'audit:read', sessionOnly: true } as const;

export function auditRoutes(app: FastifyInstance, deps: { audit: AuditService; integrity: AuditIntegrity }): void {
  app.get('/api/v1/audit', {
    config: { access: ACCESS },
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

  app.get('/api/v1/audit/verify', {
    config: { access: ACCESS },
    schema: { tags: ['audit'], summary: "Checks the org's whole audit chain against its signed checkpoints; names the first broken record" },
    handler: async (req) => verifyView(await deps.integrity.verify(callerOf(req).principal.orgId)),
  });

  app.get('/api/v1/audit/checkpoints', {
    config: { access: ACCESS },
    schema: { tags: ['audit'], summary: "The org's signed audit checkpoints and anchors, oldest first, with the keys that sign them" },
    handler: async (req) => ({
      checkpoints: await deps.integrity.checkpoints(callerOf(req).principal.orgId),
      keys: deps.integrity.publicKeys(),
    }),
  });

  app.post('/api/v1/audit/checkpoints', {
    config: { access: ACCESS },
    schema: { tags: ['audit'], summary: "Signs the head of the org's audit chain now (recorded, and covered by the checkpoint)" },
    handler: async (req, reply) => {
      const checkpoint = await deps.integrity.checkpointNow(auditContextOf(callerOf(req)));
      return reply.code(201).send({ checkpoint });
    },
  });
}

function verifyView(r: VerifyResult) {
  return {
    ok: r.ok,
    records: r.records,
    head: r.head,
    checkpoints: r.checkpoints,
    anchor: r.anchor && { seq: r.anchor.seq, hash: r.anchor.hash, at: new Date(r.anchor.at).toISOString() },
    broken: r.broken && { reason: r.broken.reason, recordId: r.broken.id, seq: r.broken.seq, message: r.broken.message },
  };
}
