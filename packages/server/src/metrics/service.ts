import { collectDefaultMetrics, Registry } from 'prom-client';
import type { AuditWriteMode, AuditWriteObserver } from '../audit/service.js';
import type { Clock } from '../context.js';
import type { LoginThrottle } from '../identity/throttle.js';
import { STALE_REASONS, TOKEN_AGES, type OrgFigures, type SecurityOverview } from '../security/service.js';
import { RequestStats } from './requests.js';
import { registerScraped, Timings, type Sample } from './scraped.js';

/**
 * How far each audit sink (issue 5's sinks module) is behind the log: records not yet delivered,
 * and the age of the oldest of them. Read at scrape time.
 */
export interface AuditSinkLag {
  sinkLag(): Promise<Array<{ sink: string; records: number; seconds: number }>>;
}

/** Database counts are read at most this often, however often (and however many) scrapers ask. */
export const FIGURES_TTL_MS = 5_000;
/** The sinks are asked once per scrape (both lag gauges share the answer). */
const SINK_LAG_TTL_MS = 1_000;

const AUDIT_MODES: readonly AuditWriteMode[] = ['transaction', 'alone', 'group'];

/** How long audit appends take, and how many records they carry, by how they were written. */
export class AuditWriteTimes implements AuditWriteObserver {
  readonly #times = new Map(AUDIT_MODES.map((m) => [m, { timings: new Timings(), records: 0 }]));

  auditAppended(mode: AuditWriteMode, seconds: number, records: number): void {
    const t = this.#times.get(mode)!;
    t.timings.observe(seconds);
    t.records += records;
  }

  latency(): Sample[] {
    return [...this.#times].flatMap(([mode, t]) => t.timings.samples({ mode }));
  }

  records(): Sample[] {
    return [...this.#times].map(([mode, t]) => ({ labels: { mode }, value: t.records }));
  }
}

export interface MetricsDeps {
  throttle: Pick<LoginThrottle, 'counts'>;
  security: Pick<SecurityOverview, 'figures'>;
  auditWrites: AuditWriteTimes;
  clock: Clock;
  /** The audit sinks, once there are any: their lag is then a gauge. */
  sinks?: AuditSinkLag | undefined;
}

/**
 * The server's Prometheus metrics (docs/metrics.md). Invariants:
 * - one Registry per server instance (prom-client's global registry is never used), so two
 *   servers in one process never share a counter;
 * - labels are route patterns, methods, status classes, reasons, limits, modes and org ids, all
 *   from code or from ids: never a URL, an email, an address, a name, a token or a value;
 * - a request pays one hook and a few additions; everything else is read at scrape time, and the
 *   database at most once per FIGURES_TTL_MS (as `system`: counts per org, no org's data).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new RequestStats();

  constructor(deps: MetricsDeps) {
    collectDefaultMetrics({ register: this.registry });
    const scraped = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Sample[] | Promise<Sample[]>) => registerScraped(this.registry, name, help, type, read);
    scraped('keynest_http_requests_total', 'HTTP requests answered, by method, route pattern and status class', 'counter', () => this.requests.counts());
    scraped('keynest_http_request_duration_seconds', 'Time from receiving an HTTP request to the end of its answer, by method and route pattern', 'histogram', () => this.requests.latency());

    const throttled = () => deps.throttle.counts();
    scraped('keynest_sign_in_failures_total', 'Failed sign-ins, re-authentications and password checks, by reason (wrong_password, unknown_account, wrong_second_factor, …)', 'counter', () =>
      [...throttled().failures].map(([reason, value]) => ({ labels: { reason }, value })),
    );
    scraped('keynest_account_lockouts_total', 'Accounts (known emails or not) locked after too many failed attempts', 'counter', () => [{ labels: {}, value: throttled().lockouts }]);
    scraped('keynest_rate_limit_refusals_total', 'Attempts refused before being checked (429 rate_limited, and 423 for a locked account), by limit', 'counter', () =>
      [...throttled().refusals].map(([limit, value]) => ({ labels: { limit }, value })),
    );

    scraped('keynest_audit_write_duration_seconds', 'Time of one audit append (a group commit is one), by mode: transaction, alone, group', 'histogram', () => deps.auditWrites.latency());
    scraped('keynest_audit_records_written_total', 'Audit records appended, by mode', 'counter', () => deps.auditWrites.records());
    if (deps.sinks) {
      const sinks = deps.sinks;
      const lag = cachedFor(SINK_LAG_TTL_MS, deps.clock, () => sinks.sinkLag());
      scraped('keynest_audit_sink_lag_records', 'Audit records not yet delivered to the sink', 'gauge', async () => (await lag()).map((l) => ({ labels: { sink: l.sink }, value: l.records })));
      scraped('keynest_audit_sink_lag_seconds', 'Age of the oldest audit record not yet delivered to the sink', 'gauge', async () => (await lag()).map((l) => ({ labels: { sink: l.sink }, value: l.seconds })));
    }

    // Every gauge of a scrape shares one read (as `system`: the instance's counts per org).
    const figures = cachedFor(FIGURES_TTL_MS, deps.clock, (now) => deps.security.figures(now));
    const perOrg = (read: (f: OrgFigures) => Sample[]) => async () => (await figures()).flatMap(read);
    scraped('keynest_org_members', 'Members of the organization', 'gauge', perOrg((f) => [{ labels: { org: f.orgId }, value: f.members }]));
    scraped('keynest_org_members_two_factor', 'Members of the organization with two-factor authentication on', 'gauge', perOrg((f) => [{ labels: { org: f.orgId }, value: f.twoFactor }]));
    scraped('keynest_two_factor_adoption_ratio', 'Members with two-factor authentication on, divided by members (0 – 1)', 'gauge', perOrg((f) => [{ labels: { org: f.orgId }, value: f.members === 0 ? 0 : f.twoFactor / f.members }]));
    scraped('keynest_active_sessions', 'Sign-in sessions alive now (not revoked, expired or idle past their timeout)', 'gauge', perOrg((f) => [{ labels: { org: f.orgId }, value: f.activeSessions }]));
    scraped('keynest_api_tokens', 'Live API tokens (not revoked, expired or rotated) by time since creation', 'gauge', perOrg((f) => TOKEN_AGES.map((age) => ({ labels: { org: f.orgId, age }, value: f.tokensByAge[age] }))));
    scraped('keynest_api_tokens_stale', 'Live API tokens needing a look: unused_90d, never_used (30+ days old), expires_7d', 'gauge', perOrg((f) => STALE_REASONS.map((reason) => ({ labels: { org: f.orgId, reason }, value: f.staleTokens[reason] }))));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text, for a scrape. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** `read`, asked at most once per `ttlMs`: callers in between share its answer (a failed one is not kept). */
function cachedFor<T>(ttlMs: number, clock: Clock, read: (now: number) => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | null = null;
  return () => {
    const now = clock();
    if (cached && now - cached.at < ttlMs && now >= cached.at) return cached.value;
    const value = read(now);
    const entry = { at: now, value };
    cached = entry;
    value.catch(() => {
      if (cached === entry) cached = null;
    });
    return value;
  };
}
