import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { text } from '../http/schemas.js';
import { SELF_SIGNUP_ROLES } from '../access/policy.js';
import { MAX_SIGNUP_DOMAINS } from './open-signup.js';
import { REQUIRE_2FA, type OrgService, type OrgSettingsChange } from './service.js';

const nullableInt = { type: ['integer', 'null'] } as const;
const policy = {
  type: 'object',
  additionalProperties: false,
  properties: { minLength: nullableInt, minScore: nullableInt, requireClasses: nullableInt },
} as const;
const openSignupFields = {
  enabled: { type: 'boolean', description: 'Whether people may sign themselves up (off by default)' },
  allowedDomains: {
    type: 'array',
    maxItems: MAX_SIGNUP_DOMAINS,
    items: text(1, 253),
    description: 'Email domains that may sign up, matched exactly (acme.com admits a@acme.com, not a@eu.acme.com); empty = any',
  },
  role: { type: 'string', enum: [...SELF_SIGNUP_ROLES], description: 'The role a self-signed-up member gets (never one that manages the organization)' },
} as const;
const settingsFields = {
  require2fa: { type: 'string', enum: [...REQUIRE_2FA], description: 'off, admins (owners and admins), or all members' },
  sessionLimit: { ...nullableInt, description: 'Live sessions per user; null = the deployment default' },
  passwordPolicy: { ...policy, description: 'Overrides of the deployment policy (may only tighten it); null = the deployment value' },
  openSignup: { type: 'object', additionalProperties: false, properties: openSignupFields, description: 'Open sign-up (POST /api/v1/auth/signup); fields left out keep their value' },
  auditRetentionDays: { ...nullableInt, description: 'Days audit records are kept before the retention purge; null = the deployment default (may only be longer)' },
} as const;
const answer = {
  type: 'object',
  additionalProperties: false,
  required: ['require2fa', 'sessionLimit', 'passwordPolicy', 'openSignup', 'auditRetentionDays', 'effective'],
  properties: {
    ...settingsFields,
    openSignup: { type: 'object', additionalProperties: false, required: ['enabled', 'allowedDomains', 'role'], properties: openSignupFields },
    effective: {
      type: 'object',
      additionalProperties: false,
      required: ['sessionLimit', 'passwordPolicy', 'auditRetentionDays'],
      properties: {
        sessionLimit: { type: 'integer' },
        auditRetentionDays: { type: 'integer' },
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
    handler: async (req) => orgs.updateSettings(callerOf(req), req.body as OrgSettingsChange),
  });
}
