import type { FastifyInstance } from 'fastify';
import { callerOf } from '../http/access.js';
import { isoTime, text } from '../http/schemas.js';
import type { IpAllowlist } from './allowlist.js';

const cidr = { ...text(1, 64), description: 'An IPv4 or IPv6 address (as /32 or /128) or CIDR range, e.g. 203.0.113.0/24 or 2001:db8::/48' } as const;
const confirmLockout = { type: 'boolean', description: 'Go ahead even though the change shuts out the address you are using (else 409 allowlist_locks_you_out)' } as const;
const view = {
  type: 'object',
  additionalProperties: false,
  required: ['enabled', 'entries', 'yourIp', 'yourIpAllowed'],
  properties: {
    enabled: { type: 'boolean' },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['cidr', 'label', 'createdAt'],
        properties: { cidr: { type: 'string', description: 'Canonical form' }, label: { type: ['string', 'null'] }, createdAt: isoTime },
      },
    },
    yourIp: { type: ['string', 'null'], description: 'Your address as the server sees it (after KEYNEST_TRUST_PROXY)' },
    yourIpAllowed: { type: 'boolean', description: 'Whether the list admits yourIp' },
  },
} as const;

// Reading the list is as sensitive as the rest of the settings; changing it needs a recent sign-in,
// so a stolen session cannot widen the list for its thief (or lock the owners out).
const read = { permission: 'settings:manage', sessionOnly: true } as const;
const change = { ...read, stepUp: 'always' } as const;

export function allowlistRoutes(app: FastifyInstance, deps: { allowlist: IpAllowlist }): void {
  const { allowlist } = deps;

  app.get('/api/v1/org/allowlist', {
    config: { access: read },
    schema: { tags: ['org'], summary: 'The organization’s IP allowlist, and the address you are calling from', response: { 200: view } },
    handler: async (req) => allowlist.view(callerOf(req)),
  });

  app.patch('/api/v1/org/allowlist', {
    config: { access: change },
    schema: {
      tags: ['org'],
      summary: 'Turn the IP allowlist on or off (on: every session and token of the org is refused from other addresses)',
      body: { type: 'object', additionalProperties: false, required: ['enabled'], properties: { enabled: { type: 'boolean' }, confirmLockout } },
      response: { 200: view },
    },
    handler: async (req) => allowlist.setEnabled(callerOf(req), req.body as { enabled: boolean; confirmLockout?: boolean }),
  });

  app.post('/api/v1/org/allowlist/entries', {
    config: { access: change },
    schema: {
      tags: ['org'],
      summary: 'Add an address or range to the IP allowlist',
      body: { type: 'object', additionalProperties: false, required: ['cidr'], properties: { cidr, label: { ...text(0, 100), type: ['string', 'null'], description: 'What the range is (office, VPN, CI runners)' } } },
      response: { 201: view },
    },
    handler: async (req, reply) => reply.code(201).send(await allowlist.addEntry(callerOf(req), req.body as { cidr: string; label?: string | null })),
  });

  app.delete('/api/v1/org/allowlist/entries/:cidr', {
    config: { access: change },
    schema: {
      tags: ['org'],
      summary: 'Remove an address or range from the IP allowlist (the range URL-encoded: 203.0.113.0%2F24; any spelling of it)',
      params: { type: 'object', required: ['cidr'], properties: { cidr } },
      querystring: { type: 'object', additionalProperties: false, properties: { confirmLockout } },
      response: { 200: view },
    },
    handler: async (req) => {
      const { cidr: range } = req.params as { cidr: string };
      return allowlist.removeEntry(callerOf(req), { cidr: range, confirmLockout: (req.query as { confirmLockout?: boolean }).confirmLockout === true });
    },
  });
}
