import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { noContent, text } from '../http/schemas.js';
import type { ProjectService } from '../projects/service.js';
import { AppError } from '../errors.js';
import { PERMISSIONS, TOKEN_ACCESS, TOKEN_TYPES, type Permission, type TokenAccess, type TokenType } from './permissions.js';
import type { TokenOwner } from './principal.js';
import type { ApiTokenService, NewToken } from './service.js';
import { normalizeFingerprint } from '../tls/certificates.js';

/** How long a rotated token may keep working: long enough to redeploy, short enough to matter. */
const MAX_ROTATION_GRACE_S = 30 * 24 * 3600;
const MAX_GRANTS = 50;
const MAX_ALLOWED_IPS = 50;

const ref = { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } as const;
const nullableRef = { anyOf: [ref, { type: 'null' }] } as const;
const tokenInfo = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'prefix', 'type', 'access', 'permissions', 'owner', 'scope', 'project', 'environment', 'allowedIps', 'createdAt', 'expiresAt', 'lastUsedAt', 'lastUsedIp', 'useCount', 'revokedAt', 'rotatedAt', 'replacedBy', 'clientCertSha256'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    prefix: { type: 'string' },
    type: { type: 'string', enum: [...TOKEN_TYPES] },
    access: { anyOf: [{ type: 'string', enum: [...TOKEN_ACCESS] }, { type: 'null' }] },
    permissions: { type: 'array', items: { type: 'string' } },
    owner: { type: 'string', enum: ['user', 'org'] },
    scope: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['project', 'environment'], properties: { project: ref, environment: nullableRef } } },
    project: ref,
    environment: nullableRef,
    allowedIps: { type: ['array', 'null'], items: { type: 'string' } },
    createdAt: { type: 'string' },
    expiresAt: { type: ['string', 'null'] },
    lastUsedAt: { type: ['string', 'null'] },
    lastUsedIp: { type: ['string', 'null'] },
    useCount: { type: 'integer' },
    revokedAt: { type: ['string', 'null'] },
    rotatedAt: { type: ['string', 'null'] },
    replacedBy: { type: ['string', 'null'] },
    clientCertSha256: { type: ['string', 'null'] },
  },
} as const;
const created = { type: 'object', additionalProperties: false, required: ['token', 'info'], properties: { token: { type: 'string' }, info: tokenInfo } } as const;
/** SHA-256 of the certificate's DER: 64 hex digits, or 32 colon-separated pairs as openssl prints them. */
const fingerprint = { type: 'string', pattern: '^([0-9a-fA-F]{64}|([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2})$' } as const;
const idParams = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: text(1, 100) } } as const;

interface CreateBody {
  name: string;
  project?: string;
  environment?: string;
  scope?: { project: string; environment?: string }[];
  access?: TokenAccess;
  type?: TokenType;
  permissions?: Permission[];
  owner?: TokenOwner;
  allowedIps?: string[] | null;
  expiresInSeconds?: number | null;
  clientCertSha256?: string;
}

export function tokenRoutes(app: FastifyInstance, deps: { tokens: ApiTokenService; projects: ProjectService }): void {
  const { tokens, projects } = deps;

  app.get('/api/v1/tokens', {
    config: { access: { permission: 'token:manage', sessionOnly: true } },
    schema: {
      tags: ['tokens'],
      summary: "List the org's API tokens (never the tokens themselves)",
      response: { 200: { type: 'object', additionalProperties: false, required: ['tokens'], properties: { tokens: { type: 'array', items: tokenInfo } } } },
    },
    handler: async (req) => ({ tokens: await tokens.list(callerOf(req)) }),
  });

  app.post('/api/v1/tokens', {
    config: { access: { permission: 'token:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['tokens'],
      summary: 'Create an API token (a type, or the read/write shorthand, over projects or environments); the token is shown only in this answer',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: text(1, 100),
          project: text(1, 100),
          environment: text(1, 100),
          scope: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_GRANTS,
            items: { type: 'object', additionalProperties: false, required: ['project'], properties: { project: text(1, 100), environment: text(1, 100) } },
          },
          access: { type: 'string', enum: [...TOKEN_ACCESS] },
          type: { type: 'string', enum: [...TOKEN_TYPES] },
          permissions: { type: 'array', maxItems: PERMISSIONS.length, items: { type: 'string', enum: [...PERMISSIONS] } },
          owner: { type: 'string', enum: ['user', 'org'] },
          allowedIps: { type: ['array', 'null'], maxItems: MAX_ALLOWED_IPS, items: text(1, 64) },
          expiresInSeconds: { type: ['integer', 'null'], minimum: 60 },
          clientCertSha256: fingerprint,
        },
      },
      response: { 201: created },
    },
    handler: async (req, reply) => {
      const body = req.body as CreateBody;
      const caller = callerOf(req);
      if ((body.access === undefined) === (body.type === undefined)) throw new AppError('bad_request', 'Give the token a type (or the older access: read|write), not both');
      if ((body.scope === undefined) === (body.project === undefined) || (body.project === undefined && body.environment !== undefined)) {
        throw new AppError('bad_request', 'Give the token a scope (or one project and environment), not both');
      }
      const wanted = body.scope ?? [{ project: body.project!, environment: body.environment }];
      const grants: NewToken['grants'] = [];
      for (const g of wanted) {
        const target = await projects.resolve(caller.principal, g.project, g.environment);
        if (g.environment !== undefined && !target.environment) throw new AppError('environment_not_found', 'Environment not found');
        grants.push({ project: target.project, environment: target.environment ?? null });
      }
      const result = await tokens.create(caller, {
        name: body.name,
        grants,
        type: body.type,
        permissions: body.permissions,
        access: body.access,
        owner: body.owner ?? 'user',
        allowedIps: body.allowedIps,
        expiresInSeconds: body.expiresInSeconds,
        clientCertSha256: body.clientCertSha256 === undefined ? null : normalizeFingerprint(body.clientCertSha256),
      });
      return reply.code(201).send(result);
    },
  });

  app.post('/api/v1/tokens/:id/rotate', {
    config: { access: { permission: 'token:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['tokens'],
      summary: 'Rotate an API token: a new token, shown only in this answer; the old one works until the grace ends',
      params: idParams,
      body: { type: 'object', additionalProperties: false, properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: MAX_ROTATION_GRACE_S } } },
      response: { 201: created },
    },
    handler: async (req, reply) => {
      const body = (req.body ?? {}) as { graceSeconds?: number };
      const result = await tokens.rotate(callerOf(req), (req.params as { id: string }).id, body.graceSeconds ?? 0);
      return reply.code(201).send(result);
    },
  });

  // Mutual TLS (docs/tls.md): whoever holds the bound certificate acts with the token's powers, so
  // binding is as sensitive as creating a token (step-up); unbinding only takes power away.
  app.put('/api/v1/tokens/:id/client-cert', {
    config: { access: { permission: 'token:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['tokens'],
      summary: 'Bind an API token to a client certificate (by SHA-256 fingerprint): over mutual TLS the certificate authenticates as the token, and the token needs the certificate',
      params: idParams,
      body: { type: 'object', additionalProperties: false, required: ['sha256'], properties: { sha256: fingerprint } },
      response: { 200: { type: 'object', additionalProperties: false, required: ['info'], properties: { info: tokenInfo } } },
    },
    handler: async (req) => {
      const sha256 = normalizeFingerprint((req.body as { sha256: string }).sha256);
      return { info: await tokens.bindClientCert(callerOf(req), (req.params as { id: string }).id, sha256) };
    },
  });

  app.delete('/api/v1/tokens/:id/client-cert', {
    config: { access: { permission: 'token:manage', sessionOnly: true } },
    schema: {
      tags: ['tokens'],
      summary: "Unbind an API token's client certificate (the token then works as a bearer alone again)",
      params: idParams,
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await tokens.bindClientCert(callerOf(req), (req.params as { id: string }).id, null);
      return reply.code(204).send();
    },
  });

  app.delete('/api/v1/tokens/:id', {
    config: { access: { permission: 'token:manage', sessionOnly: true } },
    schema: {
      tags: ['tokens'],
      summary: 'Revoke an API token (it stops working at once)',
      params: idParams,
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      await tokens.revoke(callerOf(req), (req.params as { id: string }).id);
      return reply.code(204).send();
    },
  });
}
