import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { text } from '../http/schemas.js';
import { PLAN_NAMES, QUOTA_KINDS, type PlanName } from './plans.js';
import type { OrgQuotas } from './quotas.js';

const limit = { type: ['integer', 'null'], description: 'null: unlimited' } as const;
const view = {
  type: 'object',
  additionalProperties: false,
  required: ['org', 'plan', 'isDefault', 'limits', 'usage'],
  properties: {
    org: { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } },
    plan: { type: 'string', enum: [...PLAN_NAMES] },
    isDefault: { type: 'boolean', description: 'The org has no plan of its own and follows the instance default (KEYNEST_DEFAULT_PLAN)' },
    limits: {
      type: 'object',
      additionalProperties: false,
      required: [...QUOTA_KINDS, 'requestsPerMinute'],
      properties: { ...Object.fromEntries(QUOTA_KINDS.map((k) => [k, limit])), requestsPerMinute: limit },
    },
    usage: {
      type: 'object',
      additionalProperties: false,
      required: [...QUOTA_KINDS],
      properties: Object.fromEntries(QUOTA_KINDS.map((k) => [k, { type: 'integer' }])),
    },
  },
} as const;
const orgParam = { type: 'object', required: ['org'], properties: { org: { ...text(1, 200), description: 'The org’s id or exact name' } } } as const;

/**
 * Plans (orgs/quotas.ts). An org's admins see their own plan and usage; setting a plan, or seeing
 * another org's, is the instance operator's: billing:manage (owners only) here, with a recent
 * sign-in to change it, and then the service's check that the caller's org is the instance's first.
 */
export function planRoutes(app: FastifyInstance, deps: { quotas: OrgQuotas }): void {
  const { quotas } = deps;
  const operator = { permission: 'billing:manage', sessionOnly: true } as const;

  app.get('/api/v1/org/plan', {
    config: { access: { permission: 'settings:manage' } },
    schema: { tags: ['org'], summary: 'Your organization’s plan: its limits and what it uses now', response: { 200: view } },
    handler: async (req) => quotas.ownPlan(callerOf(req)),
  });

  app.get('/api/v1/orgs/:org/plan', {
    config: { access: operator },
    schema: { tags: ['org'], summary: 'An organization’s plan, limits and usage (the instance operator only)', params: orgParam, response: { 200: view } },
    handler: async (req) => quotas.planOf(callerOf(req), (req.params as { org: string }).org),
  });

  app.put('/api/v1/orgs/:org/plan', {
    config: { access: { ...operator, stepUp: 'always' } },
    schema: {
      tags: ['org'],
      summary: 'Put an organization on a plan, or back on the instance default with null (the instance operator only; audited)',
      params: orgParam,
      body: { type: 'object', additionalProperties: false, required: ['plan'], properties: { plan: { type: ['string', 'null'], enum: [...PLAN_NAMES, null] } } },
      response: { 200: view },
    },
    handler: async (req) => quotas.setPlan(callerOf(req), (req.params as { org: string }).org, (req.body as { plan: PlanName | null }).plan),
  });
}
