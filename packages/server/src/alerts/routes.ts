import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { isoTime, text } from '../http/schemas.js';
import { ALERT_RULE_IDS, THRESHOLD_MAX, WINDOW_MAX_S, type AlertRuleChange } from './rules.js';
import type { AlertService } from './service.js';

const read = { permission: 'audit:read', sessionOnly: true } as const;
// Turning alerts down is what an intruder does first: it takes the settings permission and a
// recent sign-in, like the IP allowlist.
const change = { permission: 'settings:manage', sessionOnly: true, stepUp: 'always' } as const;

export function alertRoutes(app: FastifyInstance, deps: { alerts: AlertService }): void {
  const { alerts } = deps;

  app.get('/api/v1/alerts', {
    config: { access: read },
    schema: {
      tags: ['alerts'],
      summary: "The org's security alerts, newest first (repeats within the de-duplication period are counted in one)",
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          since: { ...isoTime, description: 'Alerts seen at or after this time' },
          rule: { type: 'string', enum: ALERT_RULE_IDS },
          limit: { type: 'integer', minimum: 1, maximum: 500 },
        },
      },
    },
    handler: async (req) => {
      const q = req.query as { since?: string; rule?: string; limit?: number };
      const list = await alerts.list(callerOf(req).principal.orgId, { ...(q.since ? { since: Date.parse(q.since) } : {}), ...(q.rule ? { rule: q.rule } : {}), limit: q.limit ?? 100 });
      return { alerts: list };
    },
  });

  app.get('/api/v1/alerts/rules', {
    config: { access: read },
    schema: { tags: ['alerts'], summary: "The org's alert rules: the shipped defaults, and what the org changed" },
    handler: async (req) => ({ rules: await alerts.rules(callerOf(req).principal.orgId) }),
  });

  app.put('/api/v1/alerts/rules/:rule', {
    config: { access: change },
    schema: {
      tags: ['alerts'],
      summary: 'Turns an alert rule on or off, or sets its threshold and window (counting rules only)',
      params: { type: 'object', required: ['rule'], properties: { rule: text(1, 64) } },
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          enabled: { type: 'boolean' },
          threshold: { type: 'integer', minimum: 1, maximum: THRESHOLD_MAX, description: 'Fire when more than this many events fall in the window' },
          windowS: { type: 'integer', minimum: 1, maximum: WINDOW_MAX_S },
        },
      },
    },
    handler: async (req) => {
      const { rule } = req.params as { rule: string };
      return { rule: await alerts.changeRule(callerOf(req), rule, req.body as AlertRuleChange) };
    },
  });
}
