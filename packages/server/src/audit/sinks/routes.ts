import type { FastifyInstance } from 'fastify';
import { callerOf } from '../../http/access.js';
import { isoTime, nullableIsoTime, text } from '../../http/schemas.js';
import { WEBHOOK_URL_MAX } from './destination.js';
import type { AuditSinks } from './service.js';

const nullableString = { type: ['string', 'null'] } as const;
const status = {
  type: 'object',
  additionalProperties: false,
  required: ['lastDeliveredId', 'lastDeliveredAt', 'recordsBehind', 'secondsBehind', 'consecutiveFailures', 'lastError', 'lastErrorAt'],
  properties: {
    lastDeliveredId: { type: ['integer', 'null'] },
    lastDeliveredAt: nullableIsoTime,
    recordsBehind: { type: 'integer', description: 'Records committed and not yet delivered' },
    secondsBehind: { type: 'integer', description: 'Age of the oldest record not yet delivered (0: none waiting)' },
    consecutiveFailures: { type: 'integer' },
    lastError: { ...nullableString, description: 'Why the latest delivery failed (an HTTP status, a network error code, a timeout)' },
    lastErrorAt: nullableIsoTime,
  },
} as const;
const sink = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind', 'url', 'label', 'createdAt', 'status'],
  properties: { id: { type: 'string' }, kind: { type: 'string', enum: ['webhook'] }, url: { type: 'string' }, label: nullableString, createdAt: isoTime, status },
} as const;
const sinkParams = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: text(1, 100) } } as const;

// Where the org's audit trail goes is an org setting; an API token never manages it, and adding or
// removing a destination needs a recent sign-in, so a stolen session cannot quietly copy the
// trail elsewhere or cut off the org's own receiver.
const read = { permission: 'settings:manage', sessionOnly: true } as const;
const change = { ...read, stepUp: 'always' } as const;

export function auditSinkRoutes(app: FastifyInstance, deps: { sinks: AuditSinks }): void {
  const { sinks } = deps;

  app.get('/api/v1/audit/sinks', {
    config: { access: read },
    schema: {
      tags: ['audit'],
      summary: "The org's audit webhook sinks, each with its delivery status and lag (never its signing secret)",
      response: { 200: { type: 'object', additionalProperties: false, required: ['sinks'], properties: { sinks: { type: 'array', items: sink } } } },
    },
    handler: async (req) => ({ sinks: await sinks.list(callerOf(req)) }),
  });

  app.post('/api/v1/audit/sinks', {
    config: { access: change },
    schema: {
      tags: ['audit'],
      summary: "Adds a webhook that receives the org's audit records (signed POSTs); the answer shows its signing secret, once",
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { ...text(1, WEBHOOK_URL_MAX), description: 'https URL of a public address (docs/audit.md, "Streaming to sinks")' },
          label: { ...text(0, 100), type: ['string', 'null'], description: 'What the receiver is (SIEM, archive)' },
        },
      },
      response: {
        201: {
          type: 'object',
          additionalProperties: false,
          required: ['sink', 'secret'],
          properties: { sink, secret: { type: 'string', description: 'The HMAC-SHA256 key of X-KeyNest-Signature; shown only now' } },
        },
      },
    },
    handler: async (req, reply) => reply.code(201).send(await sinks.create(callerOf(req), req.body as { url: string; label?: string | null })),
  });

  app.delete('/api/v1/audit/sinks/:id', {
    config: { access: change },
    schema: { tags: ['audit'], summary: 'Removes an audit sink (recorded); records not yet delivered to it are no longer sent there', params: sinkParams },
    handler: async (req, reply) => {
      await sinks.remove(callerOf(req), (req.params as { id: string }).id);
      return reply.code(204).send();
    },
  });

  app.post('/api/v1/audit/sinks/:id/test', {
    config: { access: read },
    schema: {
      tags: ['audit'],
      summary: 'Sends one signed test delivery ({"test": true, "records": []}) to the sink and says how it answered (recorded)',
      params: sinkParams,
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['delivered', 'status', 'error', 'durationMs'],
          properties: { delivered: { type: 'boolean' }, status: { type: ['integer', 'null'] }, error: nullableString, durationMs: { type: 'integer' } },
        },
      },
    },
    handler: async (req) => sinks.test(callerOf(req), (req.params as { id: string }).id),
  });
}
