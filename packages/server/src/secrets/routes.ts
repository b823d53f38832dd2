import type { FastifyInstance, FastifyRequest } from 'fastify';
import { callerOf, envTargetOf } from '../http/access.js';
import { MemoizedJson } from '../http/memoized-json.js';
import { envParams, ifVersion, noContent, secret, secretParams, writeResult } from '../http/schemas.js';
import { BATCH_MAX_SECRETS } from './rules.js';
import { READ_PURPOSES, type ReadPurpose, type SecretService, type SecretWrite } from './service.js';

const bool = { type: 'boolean' } as const;
const value = { type: 'string' } as const; // size is checked in bytes by the service (value_too_large)
const writeAnswer = { 200: writeResult } as const;

export function secretRoutes(app: FastifyInstance, deps: { secrets: SecretService }): void {
  const { secrets } = deps;
  const base = '/api/v1/projects/:project/environments/:env/secrets';
  // The hot reads answer cached, frozen secrets: their JSON is made once per cache entry.
  const json = new MemoizedJson();

  app.get(base, {
    config: {
      access: {
        permission: (req) => (valuesWanted(req) ? 'secret:read_values' : 'secret:read_keys'),
        stepUp: (req) => (valuesWanted(req) ? 'protected-environment' : null),
      },
    },
    schema: {
      tags: ['secrets'],
      summary: 'All secrets of an environment (values resolved unless raw=true; keys only with values=false)',
      params: envParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          values: bool,
          raw: bool,
          includeDeleted: bool,
          purpose: { type: 'string', enum: [...READ_PURPOSES], description: 'What the values are read for (keynest run, export in a format): kept in the audit record' },
        },
      },
      response: { 200: { type: 'object', additionalProperties: false, required: ['secrets'], properties: { secrets: { type: 'array', items: secret } } } },
    },
    handler: async (req, reply) => {
      const q = req.query as { values?: boolean; raw?: boolean; includeDeleted?: boolean; purpose?: ReadPurpose };
      const list = await secrets.list(callerOf(req), envTargetOf(req), { values: q.values !== false, raw: q.raw === true, includeDeleted: q.includeDeleted === true, ...(q.purpose ? { purpose: q.purpose } : {}) });
      return json.body(reply, list, { secrets: list });
    },
  });

  app.patch(base, {
    config: { access: { permission: 'secret:write' } },
    schema: {
      tags: ['secrets'],
      summary: 'Set several secrets at once, atomically',
      params: envParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['secrets'],
        properties: {
          secrets: {
            type: 'array',
            minItems: 1,
            maxItems: BATCH_MAX_SECRETS,
            items: { type: 'object', additionalProperties: false, required: ['key', 'value'], properties: { key: { type: 'string' }, value, ifVersion } },
          },
        },
      },
      response: { 200: { type: 'object', additionalProperties: false, required: ['results'], properties: { results: { type: 'array', items: writeResult } } } },
    },
    handler: async (req) => ({ results: await secrets.set(callerOf(req), envTargetOf(req), (req.body as { secrets: SecretWrite[] }).secrets) }),
  });

  app.get(`${base}/:key`, {
    config: { access: { permission: 'secret:read_values', stepUp: 'protected-environment' } },
    schema: {
      tags: ['secrets'],
      summary: 'One secret with its value (references resolved unless raw=true)',
      params: secretParams,
      querystring: { type: 'object', additionalProperties: false, properties: { raw: bool } },
      response: { 200: secret },
    },
    handler: async (req, reply) => {
      const { key } = req.params as { key: string };
      const found = await secrets.get(callerOf(req), envTargetOf(req), key, { raw: (req.query as { raw?: boolean }).raw === true });
      return json.body(reply, found, found);
    },
  });

  app.put(`${base}/:key`, {
    config: { access: { permission: 'secret:write' } },
    schema: {
      tags: ['secrets'],
      summary: 'Set one secret (a new version); ifVersion makes it a compare-and-set',
      params: secretParams,
      body: { type: 'object', additionalProperties: false, required: ['value'], properties: { value, ifVersion } },
      response: writeAnswer,
    },
    handler: async (req) => {
      const { key } = req.params as { key: string };
      const body = req.body as { value: string; ifVersion?: number };
      const [result] = await secrets.set(callerOf(req), envTargetOf(req), [{ key, ...body }]);
      return result;
    },
  });

  app.delete(`${base}/:key`, {
    config: { access: { permission: 'secret:delete' } },
    schema: {
      tags: ['secrets'],
      summary: 'Soft-delete a secret (restore brings it back)',
      params: secretParams,
      querystring: { type: 'object', additionalProperties: false, properties: { ifVersion } },
      response: { 204: noContent },
    },
    handler: async (req, reply) => {
      const { key } = req.params as { key: string };
      await secrets.delete(callerOf(req), envTargetOf(req), key, (req.query as { ifVersion?: number }).ifVersion);
      return reply.code(204).send();
    },
  });

  app.post(`${base}/:key/restore`, {
    config: { access: { permission: 'secret:write' } },
    schema: { tags: ['secrets'], summary: 'Restore a soft-deleted secret', params: secretParams, response: writeAnswer },
    handler: async (req) => secrets.restore(callerOf(req), envTargetOf(req), (req.params as { key: string }).key),
  });

  app.get(`${base}/:key/versions`, {
    config: { access: { permission: 'secret:read_keys' } },
    schema: {
      tags: ['secrets'],
      summary: 'Every version of a secret with who wrote it and when (no values)',
      params: secretParams,
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'deletedAt', 'versions'],
          properties: {
            key: { type: 'string' },
            deletedAt: { type: ['string', 'null'] },
            versions: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['version', 'action', 'createdAt', 'createdBy', 'current'],
                properties: {
                  version: { type: 'integer' },
                  action: { type: 'string' },
                  createdAt: { type: 'string' },
                  createdBy: secret.properties.updatedBy,
                  current: { type: 'boolean' },
                },
              },
            },
          },
        },
      },
    },
    handler: async (req) => secrets.versions(callerOf(req), envTargetOf(req), (req.params as { key: string }).key),
  });

  app.post(`${base}/:key/rollback`, {
    config: { access: { permission: 'secret:write' } },
    schema: {
      tags: ['secrets'],
      summary: 'Write a new version equal to an earlier one',
      params: secretParams,
      body: { type: 'object', additionalProperties: false, required: ['version'], properties: { version: { type: 'integer', minimum: 1, maximum: 2_147_483_647 }, ifVersion } },
      response: writeAnswer,
    },
    handler: async (req) => {
      const body = req.body as { version: number; ifVersion?: number };
      return secrets.rollback(callerOf(req), envTargetOf(req), (req.params as { key: string }).key, body.version, body.ifVersion);
    },
  });
}

/** Listing asks for values unless `values=false` (the raw query string: this runs before validation). */
function valuesWanted(req: FastifyRequest): boolean {
  return (req.query as { values?: string }).values !== 'false';
}
