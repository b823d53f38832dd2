import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, signIn, type Api, type ApiAnswer } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { addMember, createProject, secretsPath } from '../test-support/fixtures.js';
import { PLANS } from './plans.js';

const PASSWORD = 'Quota-Cobalt-Lynx-5120';
const FREE = PLANS.free as { members: number; projects: number; secrets: number; tokens: number; requestsPerMinute: number };

function assertQuota(res: ApiAnswer, quota: string, limit: number, used: number): void {
  assertError(res, 403, 'quota_exceeded');
  assert.deepEqual(res.body.error.details, { quota, limit, used, plan: 'free' });
  assert.match(res.body.error.message, new RegExp(`free plan allows ${limit} ${quota}`));
}

/** Sends the same kind of create `n` times at once; returns the statuses. */
async function parallel(n: number, make: (i: number) => Promise<ApiAnswer>): Promise<number[]> {
  return (await Promise.all(Array.from({ length: n }, (_, i) => make(i)))).map((r) => r.status).sort();
}

const token = (i: number | string) => ({ name: `quota-${i}`, type: 'read-only', scope: [{ project: 'p0', environment: 'development' }], expiresInSeconds: 86_400 });

describe('per-org quotas (KEYNEST_DEFAULT_PLAN=free)', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let admin: Api;
  let stranger: Api;
  let orgId: string;
  let globexId: string;

  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_DEFAULT_PLAN: 'free' } });
    owner = api(srv, await setupOwner(srv));
    orgId = ((await owner('GET', '/api/v1/me')).body.principal.org as { id: string }).id;
    await addMember(srv.db, { orgId, role: 'admin', email: 'admin@quota.test', password: PASSWORD, now: clock() });
    admin = api(srv, await signIn(srv, { email: 'admin@quota.test', password: PASSWORD }));
    const globex = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', clock()));
    globexId = globex.id;
    await addMember(srv.db, { orgId: globexId, role: 'owner', email: 'owner@globex.test', password: PASSWORD, now: clock() });
    stranger = api(srv, await signIn(srv, { email: 'owner@globex.test', password: PASSWORD }));
  });
  after(() => srv.close());

  it("shows the org's plan, its limits and its usage", async () => {
    const res = await owner('GET', '/api/v1/org/plan');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { org: { id: orgId, name: 'Acme' }, plan: 'free', isDefault: true, limits: { ...FREE }, usage: { members: 2, projects: 0, secrets: 0, tokens: 0 } });
  });

  it('projects: the one past the quota is refused, and of parallel creates for the last slot exactly one wins', async () => {
    for (let i = 0; i < FREE.projects; i++) await createProject(owner, `p${i}`);
    assertQuota(await owner('POST', '/api/v1/projects', { name: 'one-too-many' }), 'projects', FREE.projects, FREE.projects);
    assert.equal((await owner('DELETE', '/api/v1/projects/p2')).status, 204);
    const statuses = await parallel(5, (i) => owner('POST', '/api/v1/projects', { name: `race-${i}` }));
    assert.deepEqual(statuses, [201, 403, 403, 403, 403]);
    const rows = await srv.db.selectFrom('projects').select('name').where('org_id', '=', orgId).execute();
    assert.equal(rows.length, FREE.projects);
  });

  it('secrets: counted across the org; rewriting a live one is free; a restore or a new key past the quota is refused; parallel writes cannot both take the last slot', async () => {
    const half = Math.floor(FREE.secrets / 2);
    const batch = (from: number, n: number) => ({ secrets: Array.from({ length: n }, (_, i) => ({ key: `K_${from + i}`, value: `v${from + i}` })) });
    assert.equal((await owner('PATCH', secretsPath('p0', 'development'), batch(0, half))).status, 200);
    // A batch that would pass the quota is refused whole.
    assertQuota(await owner('PATCH', secretsPath('p0', 'production'), batch(half, FREE.secrets - half + 1)), 'secrets', FREE.secrets, half);
    assert.equal((await owner('PATCH', secretsPath('p0', 'production'), batch(half, FREE.secrets - half))).status, 200);
    assertQuota(await owner('PUT', secretsPath('p0', 'development', 'NEW_ONE'), { value: 'x' }), 'secrets', FREE.secrets, FREE.secrets);
    assert.equal((await owner('PUT', secretsPath('p0', 'development', 'K_0'), { value: 'changed' })).status, 200, 'a new version of a live secret');
    assert.equal((await owner('DELETE', secretsPath('p0', 'development', 'K_1'))).status, 204);
    assert.equal((await owner('PUT', secretsPath('p0', 'development', 'TAKES_THE_SLOT'), { value: 'x' })).status, 200);
    assertQuota(await owner('POST', `${secretsPath('p0', 'development', 'K_1')}/restore`), 'secrets', FREE.secrets, FREE.secrets);
    assert.equal((await owner('DELETE', secretsPath('p0', 'development', 'K_2'))).status, 204);
    const statuses = await parallel(4, (i) => owner('PUT', secretsPath('p0', 'staging', `RACE_${i}`), { value: 'x' }));
    assert.deepEqual(statuses, [200, 403, 403, 403]);
    const live = await srv.db.selectFrom('secrets').select('id').where('org_id', '=', orgId).where('deleted_at', 'is', null).execute();
    assert.equal(live.length, FREE.secrets);
  });

  it('API tokens: live tokens count; a revoked one gives its slot back; parallel creates cannot both take the last', async () => {
    const ids: string[] = [];
    for (let i = 0; i < FREE.tokens; i++) {
      const res = await owner('POST', '/api/v1/tokens', token(i));
      assert.equal(res.status, 201, res.text);
      ids.push(res.body.info.id);
    }
    assertQuota(await owner('POST', '/api/v1/tokens', token('extra')), 'tokens', FREE.tokens, FREE.tokens);
    assert.equal((await owner('DELETE', `/api/v1/tokens/${ids[0]}`)).status, 204);
    const statuses = await parallel(3, (i) => owner('POST', '/api/v1/tokens', token(`race-${i}`)));
    assert.deepEqual(statuses, [201, 403, 403]);
  });

  it('members: members and pending invitations share the quota; inviting the same address again is free', async () => {
    // Two members (owner, admin): three invitations fill the five seats.
    for (const who of ['a', 'b', 'c']) assert.equal((await owner('POST', '/api/v1/org/invitations', { email: `${who}@quota.test`, role: 'viewer' })).status, 201);
    assertQuota(await owner('POST', '/api/v1/org/invitations', { email: 'd@quota.test', role: 'viewer' }), 'members', FREE.members, FREE.members);
    assert.equal((await owner('POST', '/api/v1/org/invitations', { email: 'a@quota.test', role: 'developer' })).status, 201, 'replaces the pending one');
    const pending = (await owner('GET', '/api/v1/org/invitations')).body.invitations as { id: string; email: string }[];
    assert.equal((await owner('DELETE', `/api/v1/org/invitations/${pending.find((p) => p.email === 'b@quota.test')!.id}`)).status, 204);
    const statuses = await parallel(3, (i) => owner('POST', '/api/v1/org/invitations', { email: `race-${i}@quota.test`, role: 'viewer' }));
    assert.deepEqual(statuses, [201, 403, 403]);
  });

  it('members: open sign-up takes a seat when the account is made, refused while none is free', async () => {
    assert.equal((await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: true } })).status, 200);
    const anon = api(srv);
    assert.equal((await anon('POST', '/api/v1/auth/signup', { email: 'walk-in@quota.test', password: PASSWORD, org: 'Acme' })).status, 202);
    await srv.keynest.settled();
    const outbox = readFileSync(join(srv.dataDir, 'outbox.jsonl'), 'utf8');
    const [link] = [...outbox.matchAll(/kn_sgn_[A-Za-z0-9_-]{43}/g)].map((m) => m[0]);
    assertQuota(await anon('POST', '/api/v1/auth/signup/verify', { token: link, password: PASSWORD }), 'members', FREE.members, FREE.members);
    assert.equal(await srv.db.selectFrom('users').select('id').where('email', '=', 'walk-in@quota.test').executeTakeFirst(), undefined);
    const pending = (await owner('GET', '/api/v1/org/invitations')).body.invitations as { id: string }[];
    assert.equal((await owner('DELETE', `/api/v1/org/invitations/${pending[0]!.id}`)).status, 204);
    assert.equal((await anon('POST', '/api/v1/auth/signup/verify', { token: link, password: PASSWORD })).status, 201, 'the link still works once a seat is free');
  });

  it("requests per minute: the plan's allowance is 429 rate_limited past it, for the org only", async () => {
    clock.advance(61_000);
    let passed = 0;
    let refused: ApiAnswer | null = null;
    for (let i = 0; i < FREE.requestsPerMinute! + 5 && !refused; i++) {
      const res = await admin('GET', '/api/v1/me');
      if (res.status === 200) passed++;
      else refused = res;
    }
    assert.equal(passed, FREE.requestsPerMinute);
    assertError(refused!, 429, 'rate_limited');
    assert.equal(refused!.body.error.details.limit, 'plan/requests-per-minute');
    assert.equal(refused!.headers.get('retry-after'), '60');
    assertError(await owner('GET', '/api/v1/me'), 429, 'rate_limited');
    assert.equal((await stranger('GET', '/api/v1/me')).status, 200, 'another org counts its own');
    clock.advance(60_000);
  });

  it('setting a plan: the instance operator only (owner of the first org), with a recent sign-in, audited with before and after', async () => {
    // An admin lacks billing:manage; another org's owner has it, in an org that does not run the instance.
    assertError(await admin('PUT', `/api/v1/orgs/${orgId}/plan`, { plan: 'unlimited' }), 403, 'forbidden');
    assertError(await stranger('PUT', `/api/v1/orgs/${globexId}/plan`, { plan: 'unlimited' }), 403, 'forbidden');
    assertError(await stranger('GET', `/api/v1/orgs/${globexId}/plan`), 403, 'forbidden');
    assertError(await stranger('GET', `/api/v1/orgs/${orgId}/plan`), 403, 'forbidden');
    assertError(await owner('PUT', '/api/v1/orgs/Globex/plan', { plan: 'gold' }), 400, 'validation_failed');
    assertError(await owner('PUT', '/api/v1/orgs/no-such-org/plan', { plan: 'team' }), 404, 'not_found');
    const set = await owner('PUT', '/api/v1/orgs/Globex/plan', { plan: 'team' });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.plan, 'team');
    assert.equal(set.body.isDefault, false);
    assert.deepEqual(set.body.limits, { ...PLANS.team });
    assert.equal(set.body.usage.members, 1);
    assert.equal((await stranger('GET', '/api/v1/org/plan')).body.plan, 'team', 'the org sees its new plan');
    assert.equal((await owner('GET', `/api/v1/orgs/${globexId}/plan`)).body.plan, 'team');
    const records = await srv.db.selectFrom('audit_events').selectAll().where('action', '=', 'org.plan.set').orderBy('id').execute();
    assert.deepEqual(
      records.map((r) => ({ org: r.org_id, actor: r.actor_name, target: r.target_id, details: JSON.parse(r.details) })),
      [
        { org: globexId, actor: 'owner@example.com', target: globexId, details: { before: 'default (free)', after: 'team' } },
        { org: orgId, actor: 'owner@example.com', target: globexId, details: { before: 'default (free)', after: 'team' } },
      ],
    );
    // The operator's own org: the quota lifts at once.
    assertError(await owner('POST', '/api/v1/projects', { name: 'lifted' }), 403, 'quota_exceeded');
    assert.equal((await owner('PUT', `/api/v1/orgs/${orgId}/plan`, { plan: 'unlimited' })).status, 200);
    assert.equal((await owner('POST', '/api/v1/projects', { name: 'lifted' })).status, 201);
    // Back to the default: null.
    const back = await owner('PUT', '/api/v1/orgs/Globex/plan', { plan: null });
    assert.equal(back.body.plan, 'free');
    assert.equal(back.body.isDefault, true);
    const last = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'org.plan.set').where('org_id', '=', globexId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(last.details), { before: 'team', after: 'default (free)' });
  });

  it('a plan change needs a recent sign-in', async () => {
    // Past the step-up window (KEYNEST_STEP_UP_S, 10 minutes) of the owner's sign-in, within the session's idle time.
    clock.advance(11 * 60_000);
    assert.equal((await owner('GET', '/api/v1/org/plan')).status, 200);
    assertError(await owner('PUT', '/api/v1/orgs/Globex/plan', { plan: 'team' }), 401, 'reauth_required');
  });
});
