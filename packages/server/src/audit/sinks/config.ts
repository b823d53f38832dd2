import path from 'node:path';
import { isIP } from 'node:net';
import { ConfigError } from '../../errors.js';
import { parseWebhookUrl, type WebhookPolicy } from './destination.js';
import type { SyslogTarget } from './syslog.js';

/** How the dispatcher delivers (KEYNEST_AUDIT_SINK_*), for every sink alike. */
export interface DeliveryPolicy {
  /** Records per delivery (one webhook POST, one fsync, one burst of syslog frames). */
  batchSize: number;
  /** How often an idle sink looks for records appended by another instance (this one wakes it at once). */
  pollMs: number;
  /** A webhook answer, or a syslog connection and write, must come within this. */
  timeoutMs: number;
  /** The first retry after a failure; each further failure doubles it, up to `retryMaxMs` (with jitter). */
  retryMinMs: number;
  retryMaxMs: number;
}

/** The operator's sinks, which receive every chain: all orgs' records and the instance's own. */
export interface AuditSinkConfig {
  /** A JSON-lines file (absolute path). */
  file: string | undefined;
  syslog: SyslogTarget | undefined;
  webhook: { url: URL; secret: string } | undefined;
  delivery: DeliveryPolicy;
  webhookPolicy: WebhookPolicy;
}

/** A webhook secret shorter than this is refused: it is an HMAC key that anyone could otherwise guess at. */
export const MIN_WEBHOOK_SECRET_LENGTH = 32;

type Vars = Record<string, string | undefined>;
type IntegerOf = (vars: Vars, name: string, dflt: number, min: number, max: number) => number;

/** Reads the KEYNEST_AUDIT_SINK_* and KEYNEST_WEBHOOK_* settings; a bad one throws a ConfigError naming it. */
export function parseAuditSinkConfig(vars: Vars, integer: IntegerOf): AuditSinkConfig {
  const webhookPolicy = { allowHttp: flag(vars, 'KEYNEST_WEBHOOK_ALLOW_HTTP'), allowPrivate: flag(vars, 'KEYNEST_WEBHOOK_ALLOW_PRIVATE') };
  const retryMinMs = integer(vars, 'KEYNEST_AUDIT_SINK_RETRY_MIN_MS', 1000, 10, 60_000);
  return {
    file: vars.KEYNEST_AUDIT_SINK_FILE === undefined ? undefined : path.resolve(vars.KEYNEST_AUDIT_SINK_FILE),
    syslog: syslogTarget(vars.KEYNEST_AUDIT_SINK_SYSLOG),
    webhook: instanceWebhook(vars, webhookPolicy),
    delivery: {
      batchSize: integer(vars, 'KEYNEST_AUDIT_SINK_BATCH', 100, 1, 1000),
      pollMs: integer(vars, 'KEYNEST_AUDIT_SINK_POLL_MS', 1000, 10, 60_000),
      timeoutMs: integer(vars, 'KEYNEST_AUDIT_SINK_TIMEOUT_MS', 10_000, 100, 120_000),
      retryMinMs,
      retryMaxMs: integer(vars, 'KEYNEST_AUDIT_SINK_RETRY_MAX_MS', 300_000, retryMinMs, 3_600_000),
    },
    webhookPolicy,
  };
}

function flag(vars: Vars, name: string): boolean {
  const raw = vars[name];
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

/** `udp://host:514` or `tcp://host:601` (the port defaults to those). */
function syslogTarget(raw: string | undefined): SyslogTarget | undefined {
  if (raw === undefined) return undefined;
  const m = /^(udp|tcp):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(raw);
  const host = m?.[2]?.replace(/^\[(.*)\]$/, '$1');
  const port = m?.[3] === undefined ? (m?.[1] === 'tcp' ? 601 : 514) : Number(m[3]);
  if (!m || !host || (m[2]!.startsWith('[') && isIP(host) !== 6) || port < 1 || port > 65535) {
    throw new ConfigError('KEYNEST_AUDIT_SINK_SYSLOG', `must be udp://HOST[:PORT] or tcp://HOST[:PORT], got "${raw}"`);
  }
  return { protocol: m[1] as 'udp' | 'tcp', host, port };
}

function instanceWebhook(vars: Vars, policy: WebhookPolicy): { url: URL; secret: string } | undefined {
  const raw = vars.KEYNEST_AUDIT_SINK_WEBHOOK_URL;
  const secret = vars.KEYNEST_AUDIT_SINK_WEBHOOK_SECRET;
  if (raw === undefined) {
    if (secret !== undefined) throw new ConfigError('KEYNEST_AUDIT_SINK_WEBHOOK_SECRET', 'is set without KEYNEST_AUDIT_SINK_WEBHOOK_URL');
    return undefined;
  }
  // Neither value is echoed: a URL may carry a receiver's token, and the secret is a key.
  const url = parseWebhookUrl(raw, policy);
  if (!(url instanceof URL)) throw new ConfigError('KEYNEST_AUDIT_SINK_WEBHOOK_URL', url.problem);
  if (secret === undefined) throw new ConfigError('KEYNEST_AUDIT_SINK_WEBHOOK_SECRET', 'is required with KEYNEST_AUDIT_SINK_WEBHOOK_URL: the key every delivery is signed with');
  if (secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new ConfigError('KEYNEST_AUDIT_SINK_WEBHOOK_SECRET', `must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters (e.g. from: openssl rand -hex 32)`);
  }
  return { url, secret };
}
