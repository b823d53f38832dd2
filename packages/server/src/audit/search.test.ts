import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import type { AuditEvent } from './service.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken, getValue, putSecret, secretsPath, type CreatedToken } from '../test-support/fixtures.js';

type Event = AuditEvent;

const DAY = 24 * 3600 * 1000;

describe('audit search answers the questions an auditor asks', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: Api;
  let token: CreatedToken;
  const search = async (query: string): Promise<{ events: Event[]; next: number | null }> => {
    const res = await owner('GET', `/api/v1/audit?${query}`);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  before(async () => {
    srv = await startServer({ clock });
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await createProject(owner, 'billing');
    await putSecret(owner, 'app', 'production', 'API_KEY', 'prod-key-1');
    await putSecret(owner, 'app', 'production', 'DB_URL', 'prod-db-1');
    await putSecret(owner, 'app', 'development', 'API_KEY', 'dev-key-1');
    await putSecret(owner, 'billing', 'production', 'STRIPE_KEY', 'stripe-1');
    // Ten days ago (on this clock) someone read production; then the week of interest begins.
    await getValue(owner, 'app', 'production', 'DB_URL');
    clock.advance(10 * DAY);
    owner = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));
    token = await createToken(owner, { name: 'deploy-bot', project: 'app', environment: 'production', access: 'read' });
    const bot = api(srv, token.token);
    await getValue(bot, 'app', 'production', 'API_KEY');
    assert.equal((await bot('GET', secretsPath('app', 'production'), undefined, { headers: { 'user-agent': 'deploy-bot/1.0' } })).status, 200);
    await getValue(owner, 'billing', 'production', 'STRIPE_KEY');
    await getValue(owner, 'app', 'development', 'API_KEY');
    for (let i = 0; i < 3; i++) assertError(await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: `wrong-${i}-password` }), 401, 'invalid_credentials');
  });
  after(() => srv.close());

  it('"who read production secrets this week?"', async () => {
    const weekAgo = new Date(clock() - 7 * DAY).toISOString();
    const { events } = await search(`action=secret.read&environment=production&from=${encodeURIComponent(weekAgo)}`);
    assert.deepEqual(
      events.map((e) => [e.actor.name, e.project, e.target.name]),
      [
        [OWNER.email, 'billing', 'STRIPE_KEY'],
        ['deploy-bot', 'app', 'production'],
        ['deploy-bot', 'app', 'API_KEY'],
      ],
    );
    assert.ok(events.every((e) => e.action === 'secret.read' && e.environment === 'production'));
    const all = await search('action=secret.read&environment=production');
    assert.equal(all.events.length, 4, 'without the time range, the read of ten days ago is there too');
  });

  it('"what did this token do?" by id or by name, and with which client', async () => {
    const byId = (await search(`actor=${token.info.id}`)).events;
    const byName = (await search('actor=deploy-bot')).events;
    assert.deepEqual(byId, byName);
    const owner = (await search(`actor=${encodeURIComponent(OWNER.email.toUpperCase())}&limit=500`)).events;
    assert.ok(owner.length > 5 && new Set(owner.map((e) => e.actor.id)).size === 1, 'a member by email, in any case');
    assert.ok(owner.some((e) => e.actor.name === OWNER.email));
    assert.deepEqual((await search('actor=nobody-by-that-name')).events, []);
    assert.deepEqual(byId.map((e) => e.action), ['secret.read', 'secret.read', 'token.use']);
    assert.equal(byId[0]!.userAgent, 'deploy-bot/1.0');
    assert.deepEqual(byId[0]!.details.keys, ['API_KEY', 'DB_URL']);
    assert.deepEqual(byId[1]!.details.keys, ['API_KEY']);
  });

  it('"all failed sign-ins by IP"', async () => {
    const { events } = await search('action=session.create&outcome=failure&ip=127.0.0.1');
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.ip === '127.0.0.1' && e.outcome === 'failure'));
    assert.equal((await search('action=session.create&outcome=failure&ip=10.9.9.9')).events.length, 0);
  });

  it('by project, by action prefix, and by key (also in reads of several values)', async () => {
    assert.ok((await search('project=billing')).events.every((e) => e.project === 'billing'));
    const secretEvents = (await search('action=secret')).events;
    assert.deepEqual(new Set(secretEvents.map((e) => e.action)), new Set(['secret.read', 'secret.write']));
    assert.deepEqual(await search('action=secret'), await search('action=secret.*'));
    assert.equal((await search('action=secre')).events.length, 0, 'a prefix is a whole segment');
    const key = (await search('key=API_KEY&action=secret.read')).events;
    assert.deepEqual(key.map((e) => [e.environment, e.target.type]), [
      ['development', 'secret'],
      ['production', 'environment'],
      ['production', 'secret'],
    ]);
  });

  it('pages with a cursor, newest first, without gaps or repeats', async () => {
    const all = (await search('limit=500')).events;
    const seen: number[] = [];
    let next: number | null = null;
    do {
      const page: { events: Event[]; next: number | null } = await search(`limit=4${next ? `&before=${next}` : ''}`);
      seen.push(...page.events.map((e) => e.id));
      next = page.next;
    } while (next !== null);
    assert.deepEqual(seen, all.map((e) => e.id));
    assert.ok(seen.every((id, i) => i === 0 || id < seen[i - 1]!));
    // Any id is a cursor, not only one of this org's records: everything below it, newest first.
    const ids = (before: number) => search(`limit=500&before=${before}`).then((r: { events: Event[] }) => r.events.map((e) => e.id));
    assert.deepEqual(await ids(all[0]!.id + 1_000_000), seen);
    assert.deepEqual(await ids(all[3]!.id), seen.slice(4));
    assert.deepEqual(await ids(all[3]!.id + 1), seen.slice(3));
    assert.deepEqual(await ids(1), []);
  });

  it('a time window is [from, to), whichever record it starts at', async () => {
    const all = (await search('limit=500')).events;
    // Every distinct time in the log as a pivot: the binary search along the chain must never lose
    // or repeat a record at a boundary.
    for (const at of new Set(all.map((e) => e.at))) {
      const [lower, upper] = await Promise.all([search(`to=${encodeURIComponent(at)}&limit=500`), search(`from=${encodeURIComponent(at)}&limit=500`)]);
      assert.equal(lower.events.length + upper.events.length, all.length, `split at ${at}`);
      assert.ok(lower.events.every((e) => e.at < at) && upper.events.every((e) => e.at >= at));
    }
    const pivot = all[5]!;
    const before = (await search(`to=${encodeURIComponent(pivot.at)}&limit=500`)).events;
    const after = (await search(`from=${encodeURIComponent(pivot.at)}&limit=500`)).events;
    assert.ok(before.every((e) => e.at < pivot.at));
    assert.ok(after.every((e) => e.at >= pivot.at));
    assert.equal(before.length + after.length, all.length);
    assert.deepEqual((await search(`from=${encodeURIComponent(new Date(clock() + DAY).toISOString())}`)).events, []);
  });

  it('bad filters are 400 validation_failed, never a 500', async () => {
    for (const q of ['outcome=maybe', 'from=yesterday', 'limit=0', 'limit=501', 'before=0', 'colour=red', `actor=${'x'.repeat(400)}`]) {
      assertError(await owner('GET', `/api/v1/audit?${q}`), 400, 'validation_failed');
    }
    // Search text is data, never SQL or a LIKE pattern.
    assert.deepEqual((await search(`key=${encodeURIComponent("%' OR 1=1 --")}`)).events, []);
    assert.deepEqual((await search('key=%25')).events, []);
    assert.deepEqual((await search('key=_PI_KEY')).events, []);
  });
});
