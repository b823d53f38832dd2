import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { REQUIRE_2FA, type OrgService, type OrgSettings } from './service.js';

const nullableInt = { type: ['integer', 'null'] } as const;
const policy = {
  type: 'object',
  additionalProperties: false,
  properties: { minLength: nullableInt, minScore: nullableInt, requireClasses: nullableInt },
} as const;
const settingsFields = {
  require2fa: { type: 'string', enum: [...REQUIRE_2FA], description: 'off, admins (owners and admins), or all members' },
  sessionLimit: { ...nullableInt, description: 'Live sessions per user; null = the deployment default' },
  passwordPolicy: { ...policy, description: 'Overrides of the deployment policy (may only tighten it); null = the deployment value' },
} as const;
const answer = {
  type: 'object',
  additionalProperties: false,
  required: ['require2fa', 'sessionLimit', 'passwordPolicy', 'effective'],
  properties: {
    ...settingsFields,
    effective: {
      type: 'object',
      additionalProperties: false,
      required: ['sessionLimit', 'passwordPolicy'],
      properties: {
        sessionLimit: { type: 'integer' },
        passwordPolicy: {
          type: 'object',
          additionalProperties: false,
          required: ['minLength', 'maxLength', 'minScore', 'requireClasses'],
          properties: { minLength: { type: 'integer' }, maxLength: { type: 'integer' }, minScore: { type: 'integer' }, requireClasses: { type: 'integer' } },
        },
      },
    },
  },
} as const;

export function orgRoutes(app: FastifyInstance, deps: { orgs: OrgService }): void {
  const { orgs } = deps;

  app.get('/api/v1/org/settings', {
    config: { access: { permission: 'settings:manage', sessionOnly: true } },
    schema: { tags: ['org'], summary: 'The organization’s security settings, and the values in force', response: { 200: answer } },
    handler: async (req) => orgs.settings(callerOf(req)),
  });

  app.patch('/api/v1/org/settings', {
    config: { access: { permission: 'settings:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['org'],
      summary: 'Change the organization’s security settings (members without 2FA are then held to enrolment)',
      body: { type: 'object', additionalProperties: false, properties: settingsFields },
      response: { 200: answer },
    },
    handler: async (req) => orgs.updateSettings(callerOf(req), req.body as Partial<OrgSettings>),
  });
}
