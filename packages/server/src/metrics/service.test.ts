import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OrgFigures } from '../security/service.js';
import { manualClock } from '../test-support/clock.js';
import { sample } from '../test-support/metrics.js';
import { AuditWriteTimes, FIGURES_TTL_MS, Metrics, type AuditSinkLag } from './service.js';
import { Timings } from './scraped.js';

const noThrottle = { counts: () => ({ failures: new Map(), lockouts: 0, refusals: new Map() }) };
const figuresOf = (orgId: string, members: number): OrgFigures => ({
  orgId,
  members,
  twoFactor: 1,
  activeSessions: 0,
  tokensByAge: { lt_30d: 0, '30d_90d': 0, '90d_365d': 0, gt_365d: 0 },
  staleTokens: { unused_90d: 0, never_used: 0, expires_7d: 0 },
});

describe('Metrics (pure parts, with fakes)', () => {
  it('buckets are upper bounds (a value on a bound counts in it), cumulative, with sum and count', () => {
    const t = new Timings();
    for (const s of [0.0005, 0.0006, 0.003, 20]) t.observe(s);
    const lines = t.samples({ route: '/x' });
    const at = (le: string) => lines.find((l) => l.labels.le === le)!.value;
    assert.deepEqual([at('0.0005'), at('0.001'), at('0.005'), at('10'), at('+Inf')], [1, 2, 3, 3, 4]);
    assert.equal(lines.find((l) => l.suffix === '_count')!.value, 4);
    assert.ok(Math.abs(lines.find((l) => l.suffix === '_sum')!.value - 20.0041) < 1e-9);
  });

  it('reads database counts at most once per FIGURES_TTL_MS for all gauges of all scrapes; a failed read is not kept', async () => {
    const clock = manualClock();
    let reads = 0;
    let fail = false;
    const security = {
      figures: async () => {
        reads++;
        if (fail) throw new Error('database down');
        return [figuresOf('org_a', 2 + reads)];
      },
    };
    const m = new Metrics({ throttle: noThrottle, security, auditWrites: new AuditWriteTimes(), clock });
    const first = await m.render();
    assert.equal(reads, 1, 'one read for every per-org gauge of the scrape');
    assert.equal(sample(first, 'keynest_org_members', { org: 'org_a' }), 3);
    assert.equal(sample(first, 'keynest_two_factor_adoption_ratio', { org: 'org_a' }), 1 / 3);
    await Promise.all([m.render(), m.render()]);
    assert.equal(reads, 1, 'scrapes inside the window share it');
    clock.advance(FIGURES_TTL_MS);
    fail = true;
    await assert.rejects(m.render(), /database down/);
    fail = false;
    assert.equal(sample(await m.render(), 'keynest_org_members', { org: 'org_a' }), 5, 'the failure was not cached');
  });

  it('audit sinks: their lag is a gauge per sink, asked once per scrape; absent sinks, no such gauge', async () => {
    const clock = manualClock();
    let asked = 0;
    const sinks: AuditSinkLag = {
      sinkLag: async () => {
        asked++;
        return [
          { sink: 'syslog', records: 0, seconds: 0 },
          { sink: 'splunk', records: 42, seconds: 17.5 },
        ];
      },
    };
    const security = { figures: async () => [] };
    const text = await new Metrics({ throttle: noThrottle, security, auditWrites: new AuditWriteTimes(), clock, sinks }).render();
    assert.equal(asked, 1);
    assert.equal(sample(text, 'keynest_audit_sink_lag_records', { sink: 'splunk' }), 42);
    assert.equal(sample(text, 'keynest_audit_sink_lag_seconds', { sink: 'splunk' }), 17.5);
    assert.equal(sample(text, 'keynest_audit_sink_lag_records', { sink: 'syslog' }), 0);
    const without = await new Metrics({ throttle: noThrottle, security, auditWrites: new AuditWriteTimes(), clock }).render();
    assert.ok(!without.includes('keynest_audit_sink_lag'));
  });

  it('throttle counts become counters by reason and limit', async () => {
    const throttle = { counts: () => ({ failures: new Map([['wrong_password', 4]]), lockouts: 2, refusals: new Map([['reset/ip' as const, 3]]) }) };
    const text = await new Metrics({ throttle, security: { figures: async () => [] }, auditWrites: new AuditWriteTimes(), clock: manualClock() }).render();
    assert.equal(sample(text, 'keynest_sign_in_failures_total', { reason: 'wrong_password' }), 4);
    assert.equal(sample(text, 'keynest_account_lockouts_total'), 2);
    assert.equal(sample(text, 'keynest_rate_limit_refusals_total', { limit: 'reset/ip' }), 3);
    assert.match(text, /# TYPE keynest_rate_limit_refusals_total counter/);
  });
});
