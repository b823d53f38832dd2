import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { parseAddress, parseRange, rangeIncludes, type IpRange } from '../../access/ip-ranges.js';
import { AppError } from '../../errors.js';

/**
 * Where a webhook may point. An org admin chooses the URL of an org sink, and the server then
 * makes requests to it: without these rules that is server-side request forgery — a sink aimed at
 * the cloud metadata service, the database's admin port or anything else only the server reaches.
 * Invariants:
 * - an org webhook is https (plain http only when the operator allows it), carries no credentials
 *   in its URL (they would be listed and logged), and every address its host resolves to is public:
 *   loopback, private, link-local (the 169.254.169.254 metadata service), shared, multicast,
 *   reserved and documentation ranges are refused, IPv4 inside IPv6 by the IPv4 it carries;
 * - the check runs when the sink is created and again at every connection, on the very addresses
 *   the connection then uses (`guardedLookup`): a DNS answer that changes later (rebinding) does
 *   not get past it, and redirects are never followed (webhook.ts);
 * - `KEYNEST_WEBHOOK_ALLOW_PRIVATE=true` lifts the address rule (a private network's own receivers,
 *   and tests); the operator's own instance sink is trusted with any address.
 */
export interface WebhookPolicy {
  /** KEYNEST_WEBHOOK_ALLOW_HTTP: plain http:// URLs are accepted. */
  allowHttp: boolean;
  /** KEYNEST_WEBHOOK_ALLOW_PRIVATE: org webhooks may reach non-public addresses. */
  allowPrivate: boolean;
}

export const WEBHOOK_URL_MAX = 2048;

/** IANA's special-purpose ranges (RFC 6890 and successors) that a public receiver never has. */
const NOT_PUBLIC = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24',
  '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/23', '2001:db8::/32', '2002::/16', 'fc00::/7', 'fe80::/10',
  'fec0::/10', 'ff00::/8',
].map((text) => {
  const parsed = parseRange(text);
  if (!('range' in parsed)) throw new Error(`bad built-in range ${text}`);
  return parsed.range;
}) satisfies IpRange[];

/** Whether a webhook may connect to this address (text as DNS or a URL gives it). Unreadable: no. */
export function isPublicAddress(ip: string): boolean {
  const address = parseAddress(ip.replace(/^\[(.*)\]$/, '$1'));
  return address !== null && !NOT_PUBLIC.some((r) => rangeIncludes(r, address));
}

/** The URL's problem, for a one-line answer, or the parsed URL. Never echoes the URL (it may hold a token). */
export function parseWebhookUrl(raw: string, policy: Pick<WebhookPolicy, 'allowHttp'>): URL | { problem: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'is not a URL' };
  }
  if (raw.length > WEBHOOK_URL_MAX) return { problem: `is longer than ${WEBHOOK_URL_MAX} characters` };
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return { problem: policy.allowHttp ? 'must be an http(s) URL' : 'must be an https URL (plain http only with KEYNEST_WEBHOOK_ALLOW_HTTP=true)' };
  }
  if (url.username !== '' || url.password !== '') return { problem: 'must not carry a user name or password (they would be shown in listings); put a token in the path or query instead' };
  if (url.hostname === '') return { problem: 'names no host' };
  url.hash = '';
  return url;
}

/** Resolves like `dns.lookup` (the shape node:net calls), for tests that stand in their own DNS. */
export type Resolver = (hostname: string, options: { all: true; family?: number; hints?: number }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/** The error a refused destination fails its connection with (its code is what the sink status shows). */
export class DestinationNotAllowed extends Error {
  readonly code = 'EDESTINATIONNOTALLOWED';
  constructor() {
    super('destination address not allowed (not a public address)');
    this.name = 'DestinationNotAllowed';
  }
}

/**
 * A `lookup` for node:http that resolves the host and refuses the connection unless every address
 * is public: the connection is then made to the addresses checked here, never to a second answer.
 */
export function guardedLookup(resolve: Resolver = systemResolver): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number; hints?: number }, callback: (...args: unknown[]) => void) => {
    resolve(hostname, { all: true, ...(options.family ? { family: options.family } : {}), ...(options.hints ? { hints: options.hints } : {}) }, (err, addresses) => {
      if (err) return callback(err);
      if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a.address))) return callback(new DestinationNotAllowed());
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}

/**
 * The checks made when an org sink is created: the URL's form, then (unless private destinations
 * are allowed) every address its host resolves to. Throws 400 invalid_webhook_url or
 * webhook_url_not_allowed.
 */
export async function checkOrgWebhookUrl(raw: string, policy: WebhookPolicy, resolve: Resolver = systemResolver): Promise<URL> {
  const url = parseWebhookUrl(raw, policy);
  if (!(url instanceof URL)) throw new AppError('invalid_webhook_url', `The webhook URL ${url.problem}`, [{ path: '/url', rule: 'webhook_url' }]);
  if (policy.allowPrivate) return url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(host) ? [host] : await resolveAll(host, resolve);
  if (addresses.some((a) => !isPublicAddress(a))) {
    throw new AppError('webhook_url_not_allowed', 'The webhook URL points to a loopback, private, link-local or otherwise non-public address; KeyNest only sends org webhooks to public addresses');
  }
  return url;
}

function resolveAll(host: string, resolve: Resolver): Promise<string[]> {
  return new Promise((ok, fail) =>
    resolve(host, { all: true }, (err, addresses) => {
      if (err || addresses.length === 0) fail(new AppError('invalid_webhook_url', 'The webhook URL names a host that does not resolve', [{ path: '/url', rule: 'resolvable' }]));
      else ok(addresses.map((a) => a.address));
    }),
  );
}

/** The URL as logs and audit records may show it: no query (it may hold a receiver's token). */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
