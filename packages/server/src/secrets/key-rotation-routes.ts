import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import type { KeyRotationService } from './key-rotation.js';

const DEFAULT_REENCRYPT_BATCH = 500;

export function keyRotationRoutes(app: FastifyInstance, deps: { rotation: KeyRotationService }): void {
  app.post('/api/v1/admin/rotate-keys', {
    config: { access: { permission: 'settings:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['admin'],
      summary: "Rotate the org's data key: new writes use the new key at once",
      response: {
        200: { type: 'object', additionalProperties: false, required: ['keyVersion', 'remaining'], properties: { keyVersion: { type: 'integer' }, remaining: { type: 'integer' } } },
      },
    },
    handler: async (req) => deps.rotation.rotate(callerOf(req)),
  });

  app.post('/api/v1/admin/reencrypt', {
    config: { access: { permission: 'settings:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['admin'],
      summary: 'Re-encrypt one batch of versions still under older data keys; call until remaining is 0',
      body: {
        anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: false, properties: { batchSize: { type: 'integer', minimum: 1, maximum: 5000 } } }],
      },
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['reencrypted', 'remaining', 'keyVersion'],
          properties: { reencrypted: { type: 'integer' }, remaining: { type: 'integer' }, keyVersion: { type: 'integer' } },
        },
      },
    },
    handler: async (req) => {
      const body = (req.body ?? {}) as { batchSize?: number };
      return deps.rotation.reencrypt(callerOf(req), body.batchSize ?? DEFAULT_REENCRYPT_BATCH);
    },
  });
}
