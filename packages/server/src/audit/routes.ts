import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { isoTime, text } from '../http/schemas.js';
import type { AuditFilter } from './store.js';
import { Readable } from 'node:stream';
import { EXPORT_FORMATS, type ExportFormat } from './export.js';
import type { VerifyResult } from '@keynest/sdk/audit-chain';
import type { AuditIntegrity } from './integrity.js';
import { auditContextOf } from '../context.js';
import type { AuditService } from './service.js';
import type { SensitiveStrings } from './sensitive.js';

const ACCESS = { permission: 'audit:read', sessionOnly: true } as const;

export function auditRoutes(app: FastifyInstance, deps: { audit: AuditService; integrity: AuditIntegrity; sensitive: SensitiveStrings }): void {
  app.get('/api/v1/audit', {
    config: { access: ACCESS },
    schema: {
      tags: ['audit'],
      summary: "The org's audit events, newest first",
      description: 'Filters narrow together (AND). `action` matches the action and every action under it (`secret` → `secret.read`, `secret.write`, …). Page with `before` = the `next` of the previous answer.',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 500 },
          before: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          from: { ...isoTime, description: 'Events at or after this time' },
          to: { ...isoTime, description: 'Events before this time' },
          actor: { ...text(1, 320), description: 'A user or token id, or an email or token name' },
          action: text(1, 100),
          project: text(1, 200),
          environment: text(1, 200),
          key: { ...text(1, 256), description: 'A secret key (also finds reads of several values that included it)' },
          ip: text(1, 64),
          outcome: { type: 'string', enum: ['success', 'failure'] },
          login: { ...text(1, 254), description: 'A sign-in name: failed sign-ins and lockouts where this was typed (matched by its keyed digest)' },
        },
      },
    },
    handler: async (req) => {
      const { limit = 100, from, to, login, ...rest } = req.query as Omit<AuditFilter, 'from' | 'to' | 'login'> & { limit?: number; from?: string; to?: string; login?: string };
      const filter: AuditFilter = { ...rest, ...windowOf({ from, to }), ...(login !== undefined ? { login: deps.sensitive.login(login) } : {}) };
      const events = await deps.audit.list(callerOf(req).principal.orgId, filter, limit);
      return { events, next: events.length === limit ? events[events.length - 1]!.id : null };
    },
  });

  app.post('/api/v1/audit/hash', {
    config: { access: ACCESS },
    schema: {
      tags: ['audit'],
      summary: 'The keyed digest (hmac-sha256:…) the audit log keeps for a sensitive string, to look it up in records or exports',
      description: '`as: login` normalises a sign-in name the way sign-in does (what failed sign-in records keep in `details.login`).',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['value'],
        properties: { value: text(1, 1024), as: { type: 'string', enum: ['login'] } },
      },
    },
    handler: async (req) => {
      const { value, as } = req.body as { value: string; as?: 'login' };
      return { hash: as === 'login' ? deps.sensitive.login(value) : deps.sensitive.digest(value) };
    },
  });

  app.get('/api/v1/audit/export', {
    config: { access: ACCESS },
    schema: {
      tags: ['audit'],
      summary: "The org's audit records of a period, streamed: JSON lines (verifiable offline with keynest audit verify --file) or CSV",
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          format: { type: 'string', enum: [...EXPORT_FORMATS], default: 'jsonl' },
          from: { ...isoTime, description: 'Records from the first one at or after this time' },
          to: { ...isoTime, description: 'Records up to the last one before this time' },
        },
      },
    },
    handler: async (req, reply) => {
      const q = req.query as { format: ExportFormat; from?: string; to?: string };
      const window = windowOf(q);
      const caller = callerOf(req);
      const lines = await deps.integrity.export(auditContextOf(caller), q.format, window);
      const day = new Date(caller.now).toISOString().slice(0, 10);
      return reply
        .type(q.format === 'jsonl' ? 'application/x-ndjson; charset=utf-8' : 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="keynest-audit-${day}.${q.format}"`)
        .send(Readable.from(lines));
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

/** A query's ISO `from`/`to` (already validated as date-time) as epoch ms, absent ones left out. */
function windowOf(q: { from?: string | undefined; to?: string | undefined }): { from?: number; to?: number } {
  return { ...(q.from !== undefined ? { from: Date.parse(q.from) } : {}), ...(q.to !== undefined ? { to: Date.parse(q.to) } : {}) };
}

function verifyView(r: VerifyResult) {
  return {
    ok: r.ok,
    records: r.records,
    head: r.head,
    checkpoints: r.checkpoints,
    anchor: r.anchor && { seq: r.anchor.seq, hash: r.anchor.hash, at: new Date(r.anchor.at).toISOString() },
    firstSeq: r.firstSeq,
    broken: r.broken && { reason: r.broken.reason, recordId: r.broken.id, seq: r.broken.seq, message: r.broken.message },
  };
}
