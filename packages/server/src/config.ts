import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { tokenDigest } from './crypto/random.js';
import { parseAuditSinkConfig, type AuditSinkConfig } from './audit/sinks/config.js';
import { parseClusterConfig, type ClusterConfig } from './cluster/config.js';
import { ConfigError } from './errors.js';
import { GeoIp, GeoIpDatabaseError } from './geo/geoip.js';
import { parsePasswordPolicy, type PasswordPolicy } from './identity/password-policy.js';
import { JWT_ALGORITHMS, type JwtAlgorithm } from './identity/signing-keys.js';
import type { HttpTimeouts } from './http/connections.js';
import { parseAcmeConfig, type AcmeConfig } from './tls/acme/config.js';
import { ROOT_KEY_FILE } from './crypto/root-key.js';
import { assertProductionReady, parseDeployment, parseTlsSettings, type Deployment, type TlsSettings } from './tls/settings.js';
import { parseRateRules, type RateRule } from './http/rate-limit/rules.js';
import { PLAN_NAMES, type PlanName } from './orgs/plans.js';

/**
 * Every setting of the server, read once at start from KEYNEST_* environment variables (and an
 * optional JSON file named by KEYNEST_CONFIG_FILE whose keys are the same variable names; the
 * environment wins). A wrong value stops the server with one line naming the variable.
 */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** postgres://… for PostgreSQL; undefined means embedded SQLite in dataDir. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema to use (tests give each run its own). */
  databaseSchema: string | undefined;
  /** postgres://… of the schema's owner, for migrations and grants only; undefined: databaseUrl's login. */
  databaseMigrationUrl: string | undefined;
  /** The PostgreSQL role the app's queries run as, under row-level security (docs/tenant-isolation.md). */
  databaseAppRole: string;
  /** base64 of 32 bytes; undefined means a key file in dataDir. */
  rootKey: Buffer | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  sessionTtlS: number;
  sessionIdleS: number;
  sessionRememberTtlS: number;
  sessionRememberIdleS: number;
  sessionsPerUser: number;
  lockoutThreshold: number;
  lockoutS: number;
  loginRatePerIp: RateSetting;
  loginRatePerAccountIp: RateSetting;
  passwordPolicy: PasswordPolicy;
  /** smtp:// or smtps:// URL; undefined writes mails to <dataDir>/outbox.jsonl. */
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Where users reach this server: the base of the links in mails. */
  publicUrl: string;
  /** How recent a sign-in must be for step-up actions, and which environments' values need one. */
  /** Signed access tokens: algorithm, lifetime, and how long one signing key signs. */
  jwtAlgorithm: JwtAlgorithm;
  accessTokenTtlS: number;
  jwtKeyRotationS: number;
  refreshReuseGraceS: number;
  stepUpS: number;
  stepUpEnvironments: string[];
  /** How long an owner's emergency access past the org's IP allowlist lasts (orgs/allowlist.ts). */
  emergencyAccessS: number;
  /** How often each moved audit chain gets a signed checkpoint. */
  auditCheckpointS: number;
  /** Audit records older than this are purged (leaving a signed anchor), unless the org says otherwise. */
  auditRetentionDays: number;
  /** An alert that fires again within this long of its last firing is counted, not sent again. */
  alertDedupeS: number;
  /** The operator's audit sinks (file, syslog, webhook), how sinks deliver, and where org webhooks may point. */
  auditSinks: AuditSinkConfig;
  /** The longest an API token may live; every token expires (access/token-rules.ts). */
  tokenMaxTtlS: number;
  /** Which proxies' X-Forwarded-For to believe: Fastify's `trustProxy` (false = none). */
  trustProxy: boolean | number | string[];
  shutdownTimeoutMs: number;
  bodyLimitBytes: number;
  /** How long read secret values stay decrypted in memory; 0 decrypts on every read. */
  valueCacheTtlMs: number;
  valueCacheMaxBytes: number;
  /** The GeoIP database named by KEYNEST_GEOIP_DB, read and checked; undefined: no locations. */
  geoIp: GeoIp | undefined;
  /** How Prometheus reads /metrics (docs/metrics.md); null: metrics are off and cost nothing. */
  metrics: MetricsExposure | null;
  // HTTP hardening (docs/http-hardening.md).
  /** Origins whose pages may call the API from a browser (CORS), exactly as browsers send them; empty: none. */
  corsOrigins: string[];
  /** How long a slow or idle client may hold a connection. */
  httpTimeouts: HttpTimeouts;
  /** Automatic certificates over ACME (docs/acme.md); null: off. */
  acme: AcmeConfig | null;
  /** Built-in HTTPS (docs/tls.md); null: plain HTTP (on a laptop, or behind a TLS-terminating proxy). */
  tls: TlsSettings | null;
  /** KEYNEST_MODE: `production` refuses unsafe settings at start (tls/settings.ts assertProductionReady). */
  deployment: Deployment;
  // --- rate limits and plans (issue 6, docs/rate-limits.md) ---
  /** The HTTP rate-limit rules: the defaults with KEYNEST_RATE_LIMITS laid over them. */
  rateLimits: RateRule[];
  /** The plan of every org that has none of its own. */
  defaultPlan: PlanName;
  /** Redis for a cluster of instances, and the drain at SIGTERM (docs/cluster.md). */
  cluster: ClusterConfig;
}

/**
 * `KEYNEST_METRICS_TOKEN` alone: `GET /metrics` on the main port, for that bearer token only.
 * `KEYNEST_METRICS_PORT`: a listener of its own that serves nothing else (and asks for the token
 * too when one is set); the main port then has no /metrics at all.
 */
export interface MetricsExposure {
  /** SHA-256 (hex) of the scraper's token: the token itself is not kept. Undefined: none asked. */
  tokenDigest: string | undefined;
  listener: { host: string; port: number } | undefined;
}

export interface RateSetting {
  points: number;
  durationS: number;
}

const DAY_S = 24 * 3600;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ROOT_KEY_BYTES = 32;
/** The PostgreSQL role the app's queries run as unless KEYNEST_DATABASE_APP_ROLE says otherwise. */
export const DEFAULT_APP_ROLE = 'keynest_app';

export type ConfigOverrides = Partial<Pick<Config, 'host' | 'port' | 'dataDir'>>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const vars = { ...readConfigFile(env.KEYNEST_CONFIG_FILE), ...definedOnly(env) };
  const dataDir = overrides.dataDir ?? vars.KEYNEST_DATA_DIR ?? './data';
  // The API's port: the metrics, ACME and TLS settings are checked against it.
  const port = overrides.port ?? integer(vars, 'KEYNEST_PORT', 8200, 0, 65535);
  const config: Config = {
    host: overrides.host ?? vars.KEYNEST_HOST ?? '127.0.0.1',
    port,
    dataDir: path.resolve(dataDir),
    databaseUrl: databaseUrl(vars.KEYNEST_DATABASE_URL),
    databaseSchema: schemaName(vars.KEYNEST_DATABASE_SCHEMA),
    databaseMigrationUrl: databaseUrl(vars.KEYNEST_DATABASE_MIGRATION_URL, 'KEYNEST_DATABASE_MIGRATION_URL'),
    databaseAppRole: identifier(vars, 'KEYNEST_DATABASE_APP_ROLE', DEFAULT_APP_ROLE),
    rootKey: rootKey(vars.KEYNEST_ROOT_KEY),
    logLevel: oneOf(vars, 'KEYNEST_LOG_LEVEL', LOG_LEVELS, 'info'),
    sessionTtlS: integer(vars, 'KEYNEST_SESSION_TTL_S', 12 * 3600, 60, 30 * DAY_S),
    sessionIdleS: integer(vars, 'KEYNEST_SESSION_IDLE_S', 30 * 60, 60, 30 * DAY_S),
    sessionRememberTtlS: integer(vars, 'KEYNEST_SESSION_REMEMBER_TTL_S', 30 * DAY_S, 60, 30 * DAY_S),
    sessionRememberIdleS: integer(vars, 'KEYNEST_SESSION_REMEMBER_IDLE_S', 7 * DAY_S, 60, 30 * DAY_S),
    sessionsPerUser: integer(vars, 'KEYNEST_SESSIONS_PER_USER', 10, 1, 1000),
    lockoutThreshold: integer(vars, 'KEYNEST_LOCKOUT_THRESHOLD', 5, 1, 100),
    lockoutS: integer(vars, 'KEYNEST_LOCKOUT_S', 15 * 60, 1, DAY_S),
    loginRatePerIp: rate(vars, 'KEYNEST_LOGIN_RATE_IP', { points: 30, durationS: 60 }),
    loginRatePerAccountIp: rate(vars, 'KEYNEST_LOGIN_RATE_ACCOUNT_IP', { points: 10, durationS: 15 * 60 }),
    trustProxy: trustProxy(vars.KEYNEST_TRUST_PROXY),
    passwordPolicy: passwordPolicy(vars),
    smtpUrl: smtpUrl(vars.KEYNEST_SMTP_URL),
    mailFrom: vars.KEYNEST_MAIL_FROM ?? 'keynest@localhost',
    publicUrl: publicUrl(vars.KEYNEST_PUBLIC_URL),
    jwtAlgorithm: oneOf(vars, 'KEYNEST_JWT_ALGORITHM', JWT_ALGORITHMS, 'EdDSA'),
    accessTokenTtlS: integer(vars, 'KEYNEST_ACCESS_TOKEN_TTL_S', 15 * 60, 60, 3600),
    jwtKeyRotationS: integer(vars, 'KEYNEST_JWT_KEY_ROTATION_S', 7 * DAY_S, 3600, 365 * DAY_S),
    refreshReuseGraceS: integer(vars, 'KEYNEST_REFRESH_REUSE_GRACE_S', 0, 0, 60),
    stepUpS: integer(vars, 'KEYNEST_STEP_UP_S', 600, 30, DAY_S),
    stepUpEnvironments: nameList(vars, 'KEYNEST_STEP_UP_ENVIRONMENTS', ['production']),
    emergencyAccessS: integer(vars, 'KEYNEST_EMERGENCY_ACCESS_S', 3600, 60, DAY_S),
    auditCheckpointS: integer(vars, 'KEYNEST_AUDIT_CHECKPOINT_S', 3600, 1, DAY_S),
    auditRetentionDays: integer(vars, 'KEYNEST_AUDIT_RETENTION_DAYS', 730, 1, 100 * 365),
    alertDedupeS: integer(vars, 'KEYNEST_ALERT_DEDUPE_S', 3600, 0, 7 * DAY_S),
    auditSinks: parseAuditSinkConfig(vars, integer),
    tokenMaxTtlS: integer(vars, 'KEYNEST_TOKEN_MAX_TTL_S', 365 * DAY_S, 3600, 10 * 365 * DAY_S),
    shutdownTimeoutMs: integer(vars, 'KEYNEST_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    bodyLimitBytes: integer(vars, 'KEYNEST_BODY_LIMIT_BYTES', 8 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    valueCacheTtlMs: integer(vars, 'KEYNEST_VALUE_CACHE_TTL_MS', 1000, 0, 60_000),
    valueCacheMaxBytes: integer(vars, 'KEYNEST_VALUE_CACHE_MAX_MB', 64, 1, 4096) * 1024 * 1024,
    geoIp: geoIpDatabase(vars.KEYNEST_GEOIP_DB),
    metrics: metricsExposure(vars, port),
    corsOrigins: corsOrigins(vars.KEYNEST_CORS_ORIGINS),
    httpTimeouts: httpTimeouts(vars),
    acme: parseAcmeConfig(vars, integer, port),
    // TLS: begin (docs/tls.md)
    tls: parseTlsSettings(vars, integer, port, vars.KEYNEST_ACME_DIRECTORY_URL !== undefined),
    deployment: parseDeployment(vars.KEYNEST_MODE),
    // --- rate limits and plans (issue 6) ---
    rateLimits: parseRateRules(vars.KEYNEST_RATE_LIMITS),
    defaultPlan: oneOf(vars, 'KEYNEST_DEFAULT_PLAN', PLAN_NAMES, 'unlimited'),
    cluster: parseClusterConfig(vars, integer),
  };
  if (config.deployment === 'production') {
    assertProductionReady({ ...config, rootKeyFile: path.join(config.dataDir, ROOT_KEY_FILE), publicUrl: vars.KEYNEST_PUBLIC_URL === undefined ? undefined : config.publicUrl, now: Date.now() });
  }
  // TLS: end
  return config;
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('KEYNEST_') && v !== undefined && v !== '') out[k] = v;
  return out;
}

function readConfigFile(file: string | undefined): Record<string, string> {
  if (!file) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('KEYNEST_CONFIG_FILE', `cannot read ${file} as JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('KEYNEST_CONFIG_FILE', 'must hold a JSON object of KEYNEST_* settings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!k.startsWith('KEYNEST_')) throw new ConfigError('KEYNEST_CONFIG_FILE', `unknown setting "${k}"`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ConfigError(k, 'must be a string, number or boolean in the config file');
    }
    out[k] = String(v);
  }
  return out;
}

function integer(vars: Record<string, string | undefined>, name: string, dflt: number, min: number, max: number): number {
  const raw = vars[name];
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(vars: Record<string, string | undefined>, name: string, allowed: readonly T[], dflt: T): T {
  const raw = vars[name];
  if (raw === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function databaseUrl(raw: string | undefined, name = 'KEYNEST_DATABASE_URL'): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//.test(raw)) {
    // Never echo the URL: it may carry a password.
    throw new ConfigError(name, 'must be a postgres:// or postgresql:// URL');
  }
  return raw;
}

const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function schemaName(raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : identifier({ KEYNEST_DATABASE_SCHEMA: raw }, 'KEYNEST_DATABASE_SCHEMA', raw);
}

function identifier(vars: Record<string, string | undefined>, name: string, dflt: string): string {
  const raw = vars[name] ?? dflt;
  if (!SQL_IDENTIFIER.test(raw)) throw new ConfigError(name, 'must be a lower-case identifier (a-z, 0-9, _)');
  return raw;
}

function rootKey(raw: string | undefined): Buffer | undefined {
  if (raw === undefined) return undefined;
  const key = Buffer.from(raw, 'base64');
  // Never echo the value: it is the root of every secret.
  if (key.length !== ROOT_KEY_BYTES || key.toString('base64').replace(/=+$/, '') !== raw.trim().replace(/=+$/, '')) {
    throw new ConfigError('KEYNEST_ROOT_KEY', `must be ${ROOT_KEY_BYTES} bytes, base64-encoded (e.g. from: openssl rand -base64 32)`);
  }
  if (key.every((b) => b === key[0])) throw new ConfigError('KEYNEST_ROOT_KEY', 'is a trivial key (all bytes equal); generate a random one');
  return key;
}

/** "N/S": N attempts per S seconds. */
function rate(vars: Record<string, string | undefined>, name: string, dflt: RateSetting): RateSetting {
  const raw = vars[name];
  if (raw === undefined) return dflt;
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(raw);
  const points = Number(m?.[1]);
  const durationS = Number(m?.[2]);
  if (!m || points < 1 || durationS < 1) throw new ConfigError(name, `must be ATTEMPTS/SECONDS such as 30/60, got "${raw}"`);
  return { points, durationS };
}

/**
 * Off unless set: behind no proxy, X-Forwarded-For is whatever the client wrote, and believing it
 * would let anyone pick the IP that rate limits and audit records see.
 */
function trustProxy(raw: string | undefined): boolean | number | string[] {
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((s) => s.trim());
  for (const entry of list) {
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const maxBits = family === 6 ? 128 : 32;
    if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
      throw new ConfigError('KEYNEST_TRUST_PROXY', `must be false, true, a hop count, or proxy addresses/CIDRs separated by commas; "${entry}" is none of these`);
    }
  }
  return list;
}

const PASSWORD_SETTINGS = {
  KEYNEST_PASSWORD_MIN_LENGTH: 'minLength',
  KEYNEST_PASSWORD_REQUIRE_CLASSES: 'requireClasses',
  KEYNEST_PASSWORD_MIN_SCORE: 'minScore',
} as const;

function passwordPolicy(vars: Record<string, string | undefined>): PasswordPolicy {
  const partial: Partial<Record<keyof PasswordPolicy, number>> = {};
  for (const [name, field] of Object.entries(PASSWORD_SETTINGS)) {
    const raw = vars[name];
    if (raw === undefined) continue;
    if (!/^\d{1,3}$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
    partial[field] = Number(raw);
  }
  try {
    return parsePasswordPolicy(partial as Partial<PasswordPolicy>);
  } catch (err) {
    const field = Object.entries(PASSWORD_SETTINGS).find(([, f]) => (err as Error).message.includes(f))?.[0] ?? 'KEYNEST_PASSWORD_MIN_LENGTH';
    throw new ConfigError(field, (err as Error).message);
  }
}

/** Comma-separated environment names; "none" for an empty list. */
function nameList(vars: Record<string, string | undefined>, name: string, dflt: string[]): string[] {
  const raw = vars[name];
  if (raw === undefined) return dflt;
  if (raw.trim() === 'none') return [];
  const list = raw.split(',').map((s) => s.trim());
  for (const n of list) if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(n)) throw new ConfigError(name, `"${n}" is not an environment name (or use "none")`);
  return list;
}

function smtpUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  // The URL may hold a password: the error names the variable, never the value.
  if (!/^smtps?:\/\/[^\s]+$/.test(raw)) throw new ConfigError('KEYNEST_SMTP_URL', 'must be an smtp:// or smtps:// URL');
  return raw;
}

/**
 * Opened here, not at the first sign-in, so that a wrong path or a file that is not a database
 * stops the start with a line naming the variable instead of silently giving no locations.
 */
function geoIpDatabase(raw: string | undefined): GeoIp | undefined {
  if (raw === undefined) return undefined;
  try {
    return GeoIp.open(path.resolve(raw));
  } catch (err) {
    if (err instanceof GeoIpDatabaseError) throw new ConfigError('KEYNEST_GEOIP_DB', err.message);
    throw err;
  }
}

function publicUrl(raw: string | undefined): string {
  if (raw === undefined) return 'http://127.0.0.1:8200';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('KEYNEST_PUBLIC_URL', `must be an http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('KEYNEST_PUBLIC_URL', 'must be an http(s) URL');
  return raw.replace(/\/+$/, '');
}

/** Shorter scraper tokens could be guessed by whoever can reach the port (`openssl rand -hex 32` gives 64). */
const METRICS_TOKEN_MIN_CHARS = 32;

function metricsExposure(vars: Record<string, string | undefined>, mainPort: number): MetricsExposure | null {
  const token = vars.KEYNEST_METRICS_TOKEN;
  // Never echo the token: the error says what is wrong with it, not what it is.
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new ConfigError('KEYNEST_METRICS_TOKEN', 'must be printable ASCII without spaces (e.g. from: openssl rand -hex 32)');
  if (token !== undefined && token.length < METRICS_TOKEN_MIN_CHARS) {
    throw new ConfigError('KEYNEST_METRICS_TOKEN', `must be at least ${METRICS_TOKEN_MIN_CHARS} characters (e.g. from: openssl rand -hex 32)`);
  }
  if (vars.KEYNEST_METRICS_PORT === undefined) {
    if (vars.KEYNEST_METRICS_HOST !== undefined) throw new ConfigError('KEYNEST_METRICS_HOST', 'needs KEYNEST_METRICS_PORT (without it, /metrics is on the main port)');
    return token === undefined ? null : { tokenDigest: tokenDigest(token), listener: undefined };
  }
  const port = integer(vars, 'KEYNEST_METRICS_PORT', 0, 0, 65535);
  if (port !== 0 && port === mainPort) throw new ConfigError('KEYNEST_METRICS_PORT', `must differ from the main port (${mainPort})`);
  const host = vars.KEYNEST_METRICS_HOST ?? '127.0.0.1';
  if (!isIP(host) && host !== 'localhost') throw new ConfigError('KEYNEST_METRICS_HOST', `must be an IP address or localhost, got "${host}"`);
  return { tokenDigest: token === undefined ? undefined : tokenDigest(token), listener: { host, port } };
}

// --- HTTP hardening (docs/http-hardening.md) ---

/**
 * Comma-separated origins, each exactly as a browser sends it in `Origin` (scheme, host, and a
 * port only when not the default; no path, no trailing slash), so that matching is plain equality.
 * Wildcards (`*`, `https://*.example.com`) and `null` are refused: an API that holds secrets names
 * the pages it trusts.
 */
function corsOrigins(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const list = raw.split(',').map((s) => s.trim());
  for (const entry of list) {
    if (entry.includes('*') || entry === 'null') throw new ConfigError('KEYNEST_CORS_ORIGINS', `"${entry}" is not allowed: list the exact origins (https://app.example.com)`);
    let url: URL | null = null;
    try {
      url = new URL(entry);
    } catch {
      /* refused below */
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== entry) {
      const hint = url && (url.protocol === 'https:' || url.protocol === 'http:') ? ` (did you mean ${url.origin}?)` : '';
      throw new ConfigError('KEYNEST_CORS_ORIGINS', `"${entry}" is not an origin such as https://app.example.com${hint}`);
    }
  }
  return [...new Set(list)];
}

function httpTimeouts(vars: Record<string, string | undefined>): HttpTimeouts {
  const t: HttpTimeouts = {
    headersMs: integer(vars, 'KEYNEST_HEADERS_TIMEOUT_MS', 10_000, 50, 120_000),
    requestMs: integer(vars, 'KEYNEST_REQUEST_TIMEOUT_MS', 30_000, 50, 600_000),
    keepAliveMs: integer(vars, 'KEYNEST_KEEP_ALIVE_TIMEOUT_MS', 5_000, 50, 600_000),
    socketIdleMs: integer(vars, 'KEYNEST_SOCKET_IDLE_TIMEOUT_MS', 60_000, 50, 600_000),
  };
  // Node would otherwise let the headers outlive the request that holds them.
  if (t.headersMs > t.requestMs) throw new ConfigError('KEYNEST_HEADERS_TIMEOUT_MS', `must not exceed KEYNEST_REQUEST_TIMEOUT_MS (${t.requestMs})`);
  return t;
}
