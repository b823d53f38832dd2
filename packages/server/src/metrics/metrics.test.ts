import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, OWNER, request, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { addMember, createProject, createToken, marker, putSecret, secretsPath } from '../test-support/fixtures.js';
import { sample } from '../test-support/metrics.js';
import { startServer } from '../test-support/server.js';
import { enrolTotp, oathtool } from '../test-support/totp.js';
import { FIGURES_TTL_MS } from './service.js';

const DAY = 24 * 3600 * 1000;
const PASSWORD = 'Metric-Harbor-Lantern-5820';
const SECRET_ROUTE = '/api/v1/projects/:project/environments/:env/secrets/:key';

describe('GET /metrics with KEYNEST_METRICS_TOKEN: what the server counts', () => {
  const clock = manualClock();
  const token = `mt_${randomBytes(24).toString('hex')}`;
  let srv: TestServer;
  let owner: Api;
  let orgId: string;
  let totpSeed: string;
  /** Everything that must never appear in the metrics: values, names from paths, passwords, tokens, emails. */
  const sensitive = new Set<string>([token, OWNER.password, OWNER.email, PASSWORD, 'member@metrics.test']);

  const scrape = async (): Promise<string> => {
    // Past the cache of database counts, so each scrape sees the latest.
    clock.advance(FIGURES_TTL_MS);
    const res = await request(srv, token, 'GET', '/metrics');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    for (const s of sensitive) assert.ok(!res.text.includes(s), 'a sensitive string reached the metrics');
    return res.text;
  };
  const loginFrom = (ip: string, email: string, password: string) => api(srv)('POST', '/api/v1/auth/login', { email, password }, { headers: { 'x-forwarded-for': ip } });

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_METRICS_TOKEN: token, KEYNEST_TRUST_PROXY: '127.0.0.1', KEYNEST_LOGIN_RATE_IP: '5/60' } });
    const session = await setupOwner(srv);
    sensitive.add(session.accessToken).add(session.refreshToken);
    owner = api(srv, session);
    orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    await addMember(srv.db, { orgId, role: 'developer', email: 'member@metrics.test', password: PASSWORD, now: clock() });
  });
  after(() => srv.close());

  it('counts requests by route pattern and status class, with latency: never the path (a secret key in the URL stays out)', async () => {
    const project = `proj-${randomBytes(4).toString('hex')}`;
    const key = `KEY_${randomBytes(8).toString('hex').toUpperCase()}`;
    const value = marker('VALUE');
    [project, key, value].forEach((s) => sensitive.add(s));
    await createProject(owner, project);
    await putSecret(owner, project, 'development', key, value);
    const before = await scrape();
    const counted = (text: string, cls: string) => sample(text, 'keynest_http_requests_total', { method: 'GET', route: SECRET_ROUTE, status_class: cls }) ?? 0;
    for (let i = 0; i < 3; i++) assert.equal((await owner('GET', secretsPath(project, 'development', key))).status, 200);
    assert.equal((await owner('GET', secretsPath(project, 'development', 'MISSING_KEY'))).status, 404);
    const unmatched = `/api/v1/${marker('nowhere').toLowerCase()}`;
    sensitive.add(unmatched);
    assert.equal((await owner('GET', unmatched)).status, 404);

    const text = await scrape();
    assert.equal(counted(text, '2xx') - counted(before, '2xx'), 3);
    assert.equal(counted(text, '4xx') - counted(before, '4xx'), 1);
    assert.equal(sample(text, 'keynest_http_request_duration_seconds_count', { method: 'GET', route: SECRET_ROUTE })! - (sample(before, 'keynest_http_request_duration_seconds_count', { method: 'GET', route: SECRET_ROUTE }) ?? 0), 4);
    assert.equal(sample(text, 'keynest_http_request_duration_seconds_bucket', { route: SECRET_ROUTE, le: '+Inf' }), sample(text, 'keynest_http_request_duration_seconds_count', { route: SECRET_ROUTE }));
    assert.ok(sample(text, 'keynest_http_requests_total', { method: 'GET', route: 'unmatched', status_class: '4xx' })! >= 1, 'unknown URLs are one label');
    assert.ok(sample(text, 'keynest_http_requests_total', { method: 'PUT', route: SECRET_ROUTE, status_class: '2xx' })! >= 1);
    assert.ok(!/route="\/api\/v1\/projects\/[^:"]/.test(text), 'every route label is a pattern');
    // Reads of values are group-committed to the audit log, writes in their transaction: both timed.
    assert.ok(sample(text, 'keynest_audit_write_duration_seconds_count', { mode: 'group' })! >= 3);
    assert.ok(sample(text, 'keynest_audit_write_duration_seconds_count', { mode: 'transaction' })! >= 1);
    assert.ok(sample(text, 'keynest_audit_records_written_total', { mode: 'group' })! >= 3);
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, "Node's process metrics are included");
    assert.ok(sample(text, 'nodejs_eventloop_lag_seconds') !== undefined);
  });

  it('counts failed sign-ins by reason, lockouts and rate-limit refusals', async () => {
    const before = await scrape();
    const delta = (text: string, name: string, labels: Record<string, string> = {}) => (sample(text, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    assert.equal((await loginFrom('203.0.113.1', 'member@metrics.test', 'wrong-password')).status, 401);
    assert.equal((await loginFrom('203.0.113.1', 'ghost@metrics.test', 'wrong-password')).status, 401);
    for (let i = 0; i < 4; i++) assert.equal((await loginFrom('203.0.113.2', 'member@metrics.test', `wrong-${i}`)).status, 401);
    assert.equal((await loginFrom('203.0.113.2', 'member@metrics.test', PASSWORD)).status, 423, 'five failures lock the account');
    for (let i = 0; i < 5; i++) await loginFrom('203.0.113.3', `nobody${i}@metrics.test`, 'x');
    assert.equal((await loginFrom('203.0.113.3', 'nobody9@metrics.test', 'x')).status, 429);

    const text = await scrape();
    assert.equal(delta(text, 'keynest_sign_in_failures_total', { reason: 'wrong_password' }), 5);
    assert.equal(delta(text, 'keynest_sign_in_failures_total', { reason: 'unknown_account' }), 6);
    assert.equal(delta(text, 'keynest_account_lockouts_total'), 1);
    assert.equal(delta(text, 'keynest_rate_limit_refusals_total', { limit: 'sign-in/locked' }), 1);
    assert.equal(delta(text, 'keynest_rate_limit_refusals_total', { limit: 'sign-in/ip' }), 1);
    assert.ok(!text.includes('203.0.113.'), 'no client address');
    assert.ok(!text.includes('metrics.test'), 'no email');
  });

  it('2FA adoption per org and active sessions follow enrolment, sign-in and sign-out', async () => {
    const org = { org: orgId };
    const before = await scrape();
    assert.equal(sample(before, 'keynest_org_members', org), 2);
    assert.equal(sample(before, 'keynest_two_factor_adoption_ratio', org), 0);
    const sessions = sample(before, 'keynest_active_sessions', org)!;
    assert.ok(sessions >= 1);

    totpSeed = await enrolTotp(owner, clock());
    sensitive.add(totpSeed);
    const enrolled = await scrape();
    assert.equal(sample(enrolled, 'keynest_org_members_two_factor', org), 1);
    assert.equal(sample(enrolled, 'keynest_two_factor_adoption_ratio', org), 0.5);

    clock.advance(15 * 60 * 1000); // the member's lock from the test before ends
    const member = await signIn(srv, { email: 'member@metrics.test', password: PASSWORD });
    sensitive.add(member.accessToken).add(member.refreshToken);
    assert.equal(sample(await scrape(), 'keynest_active_sessions', org), sessions + 1);
    assert.equal((await api(srv, member)('POST', '/api/v1/auth/logout')).status, 204);
    assert.equal(sample(await scrape(), 'keynest_active_sessions', org), sessions);
  });

  it('counts live API tokens by age, and the stale ones', async () => {
    assert.equal((await owner('POST', '/api/v1/auth/reauth', { password: OWNER.password, totp: oathtool(totpSeed, clock()) })).status, 204);
    await createProject(owner, 'tokens');
    const kept = await createToken(owner, { name: 'kept', project: 'tokens', environment: 'development', access: 'read', expiresInSeconds: 200 * 86_400 });
    const short = await createToken(owner, { name: 'short', project: 'tokens', environment: 'development', access: 'read', expiresInSeconds: 3 * 86_400 });
    sensitive.add(kept.token).add(short.token).add('kept').add('short');
    const fresh = await scrape();
    const tokens = (text: string, labels: Record<string, string>) => sample(text, 'keynest_api_tokens', { org: orgId, ...labels });
    const stale = (text: string, reason: string) => sample(text, 'keynest_api_tokens_stale', { org: orgId, reason });
    assert.equal(tokens(fresh, { age: 'lt_30d' }), 2);
    assert.equal(tokens(fresh, { age: '30d_90d' }), 0);
    assert.equal(stale(fresh, 'expires_7d'), 1);
    assert.equal(stale(fresh, 'never_used'), 0);

    clock.advance(40 * DAY);
    const later = await scrape();
    assert.deepEqual([tokens(later, { age: 'lt_30d' }), tokens(later, { age: '30d_90d' })], [0, 1], 'the short one expired; the other is 40 days old');
    assert.deepEqual([stale(later, 'never_used'), stale(later, 'expires_7d'), stale(later, 'unused_90d')], [1, 0, 0]);
  });
});

describe('each server has its own registry', () => {
  it('two servers in one process count apart', async () => {
    const token = `mt_${randomBytes(24).toString('hex')}`;
    const a = await startServer({ env: { KEYNEST_METRICS_TOKEN: token } });
    const b = await startServer({ env: { KEYNEST_METRICS_TOKEN: token } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(a, null, 'GET', '/healthz')).status, 200);
      const healthz = { method: 'GET', route: '/healthz', status_class: '2xx' };
      assert.equal(sample((await request(a, token, 'GET', '/metrics')).text, 'keynest_http_requests_total', healthz), 3);
      assert.equal(sample((await request(b, token, 'GET', '/metrics')).text, 'keynest_http_requests_total', healthz), undefined);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
