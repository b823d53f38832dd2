import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, OWNER, type Api, type ApiAnswer } from '../test-support/api.js';
import { renameTable } from '../test-support/db.js';
import { createProject, createToken, getValue, marker, putSecret, secretsPath } from '../test-support/fixtures.js';

interface Event {
  id: number;
  at: string;
  action: string;
  outcome: string;
  actor: { type: string; id: string | null };
  target: { type: string | null; id: string | null; name: string | null };
  ip: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('audit trail', () => {
  let srv: TestServer;
  let owner: Api;
  let ownerId: string;
  const values: string[] = [];
  const v = (label: string) => {
    const m = marker(label);
    values.push(m);
    return m;
  };

  const events = async (): Promise<Event[]> => (await owner('GET', '/api/v1/audit?limit=500')).body.events;
  /** The events written while `work` ran (newest first). */
  async function during(work: () => Promise<unknown>): Promise<Event[]> {
    const before = (await events())[0]?.id ?? 0;
    await work();
    return (await events()).filter((e) => e.id > before);
  }
  function assertEvent(e: Event | undefined, expected: { action: string; actor?: { type: string; id?: string }; target?: Partial<Event['target']>; outcome?: string }): Event {
    assert.ok(e, `no ${expected.action} event`);
    assert.equal(e.action, expected.action);
    assert.equal(e.outcome, expected.outcome ?? 'success');
    if (expected.actor) assert.equal(e.actor.type, expected.actor.type);
    if (expected.actor?.id) assert.equal(e.actor.id, expected.actor.id);
    if (expected.target) for (const [k, val] of Object.entries(expected.target)) assert.equal(e.target[k as keyof Event['target']], val, `target.${k}`);
    assert.equal(e.ip, '127.0.0.1');
    assert.match(e.requestId ?? '', UUID);
    assert.ok(!Number.isNaN(Date.parse(e.at)));
    for (const val of values) assert.ok(!JSON.stringify(e).includes(val), `value in ${e.action} event`);
    return e;
  }

  before(async () => {
    srv = await startServer();
    const setup = await api(srv)('POST', '/api/v1/setup', { ...OWNER, setupToken: srv.setupToken });
    owner = api(srv, setup.body.accessToken);
    ownerId = setup.body.user.id;
  });
  after(() => srv.close());

  it('setup is audited (instance.setup, session.create)', async () => {
    const all = await events();
    assertEvent(all.find((e) => e.action === 'instance.setup'), { action: 'instance.setup', actor: { type: 'user', id: ownerId }, target: { type: 'org' } });
    assertEvent(all.find((e) => e.action === 'session.create'), { action: 'session.create', actor: { type: 'user', id: ownerId }, target: { type: 'session' } });
  });

  it('every mutation writes one event with actor, action, target, ip and request id, never the value', async () => {
    const user = { type: 'user', id: ownerId };
    let e = await during(() => createProject(owner, 'app'));
    assertEvent(e[0], { action: 'project.create', actor: user, target: { type: 'project', name: 'app' } });
    e = await during(() => owner('POST', '/api/v1/projects/app/environments', { name: 'qa' }));
    assertEvent(e[0], { action: 'environment.create', actor: user, target: { type: 'environment', name: 'qa' } });
    const first = v('PUT');
    e = await during(() => putSecret(owner, 'app', 'development', 'KEY', first));
    assert.equal(e.length, 1);
    assertEvent(e[0], { action: 'secret.write', actor: user, target: { type: 'secret', name: 'KEY' } });
    assert.equal(e[0]!.details.version, 1);
    assert.equal(e[0]!.details.status, 'added');
    e = await during(() => owner('PATCH', secretsPath('app', 'development'), { secrets: [{ key: 'KEY', value: v('PATCH') }, { key: 'OTHER', value: v('PATCH2') }] }));
    assert.deepEqual(e.map((x) => [x.action, x.target.name]).sort(), [['secret.write', 'KEY'], ['secret.write', 'OTHER']]);
    e.forEach((x) => assertEvent(x, { action: 'secret.write', actor: user, target: { type: 'secret' } }));
    e = await during(() => owner('POST', `${secretsPath('app', 'development', 'KEY')}/rollback`, { version: 1 }));
    assertEvent(e[0], { action: 'secret.rollback', actor: user, target: { name: 'KEY' } });
    assert.equal(e[0]!.details.fromVersion, 1);
    e = await during(() => owner('DELETE', secretsPath('app', 'development', 'OTHER')));
    assertEvent(e[0], { action: 'secret.delete', actor: user, target: { name: 'OTHER' } });
    e = await during(() => owner('POST', `${secretsPath('app', 'development', 'OTHER')}/restore`));
    assertEvent(e[0], { action: 'secret.restore', actor: user, target: { name: 'OTHER' } });
    let created: Awaited<ReturnType<typeof createToken>> | undefined;
    e = await during(async () => (created = await createToken(owner, { name: 'ci', project: 'app', environment: 'development', access: 'write' })));
    assertEvent(e[0], { action: 'token.create', actor: user, target: { type: 'token', name: 'ci' } });
    assert.ok(!JSON.stringify(e).includes(created!.token), 'token in the audit trail');
    e = await during(() => api(srv, created!.token)('PUT', secretsPath('app', 'development', 'BY_TOKEN'), { value: v('TOKENPUT') }));
    assertEvent(e[0], { action: 'secret.write', actor: { type: 'token', id: created!.info.id }, target: { name: 'BY_TOKEN' } });
    e = await during(() => owner('DELETE', `/api/v1/tokens/${created!.info.id}`));
    assertEvent(e[0], { action: 'token.revoke', actor: user, target: { type: 'token', id: created!.info.id } });
    e = await during(() => owner('POST', '/api/v1/admin/rotate-keys'));
    assertEvent(e[0], { action: 'keys.rotate', actor: user });
    e = await during(() => owner('POST', '/api/v1/admin/reencrypt', {}));
    assertEvent(e[0], { action: 'keys.reencrypt', actor: user });
    e = await during(() => owner('DELETE', '/api/v1/projects/app/environments/qa'));
    assertEvent(e[0], { action: 'environment.delete', actor: user, target: { name: 'qa' } });
    await createProject(owner, 'temp');
    e = await during(() => owner('DELETE', '/api/v1/projects/temp'));
    assertEvent(e[0], { action: 'project.delete', actor: user, target: { name: 'temp' } });
    const login = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    e = await during(() => api(srv, login.body.accessToken)('POST', '/api/v1/auth/logout'));
    assertEvent(e[0], { action: 'session.revoke', actor: user, target: { type: 'session' } });
    // Request ids are per request: events of different requests never share one.
    const onePerRequest = new Set(['project.create', 'environment.create', 'secret.rollback', 'secret.delete', 'secret.restore', 'token.create', 'token.revoke', 'keys.rotate', 'keys.reencrypt', 'environment.delete', 'project.delete', 'session.revoke']);
    const ids = (await events()).filter((x) => onePerRequest.has(x.action)).map((x) => x.requestId);
    assert.ok(ids.length >= 12);
    assert.equal(new Set(ids).size, ids.length, 'request ids repeat across requests');
  });

  it('an unchanged write changes nothing and records nothing', async () => {
    await putSecret(owner, 'app', 'development', 'SAME', v('SAME'));
    const value = await getValue(owner, 'app', 'development', 'SAME', '?raw=true');
    const e = await during(() => putSecret(owner, 'app', 'development', 'SAME', value));
    assert.deepEqual(e, []);
  });

  it('every value read is recorded (one secret, a list, a token read, references), and keys-only reads are not', async () => {
    await putSecret(owner, 'app', 'development', 'READ_ME', v('READ'));
    await putSecret(owner, 'app', 'production', 'PROD_REF', v('PRODREF'));
    await putSecret(owner, 'app', 'development', 'USES_REF', 'x${production.PROD_REF}');
    let e = await during(() => getValue(owner, 'app', 'development', 'READ_ME'));
    assertEvent(e[0], { action: 'secret.read', actor: { type: 'user', id: ownerId }, target: { type: 'secret', name: 'READ_ME' } });
    assert.deepEqual(e[0]!.details.keys, ['READ_ME']);
    e = await during(() => owner('GET', secretsPath('app', 'development')));
    assertEvent(e[0], { action: 'secret.read', target: { type: 'environment', name: 'development' } });
    assert.ok((e[0]!.details.keys as string[]).includes('READ_ME'));
    assert.deepEqual(e[0]!.details.references, ['production.PROD_REF']);
    e = await during(() => getValue(owner, 'app', 'development', 'USES_REF', '?raw=true'));
    assertEvent(e[0], { action: 'secret.read', target: { name: 'USES_REF' } });
    assert.deepEqual(e[0]!.details.references, []);
    const { token, info } = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    e = await during(() => getValue(api(srv, token), 'app', 'development', 'READ_ME'));
    assertEvent(e[0], { action: 'secret.read', actor: { type: 'token', id: info.id }, target: { name: 'READ_ME' } });
    e = await during(async () => {
      assert.equal((await owner('GET', `${secretsPath('app', 'development')}?values=false`)).status, 200);
      assert.equal((await owner('GET', `${secretsPath('app', 'development', 'READ_ME')}/versions`)).status, 200);
      assert.equal((await owner('GET', '/api/v1/projects')).status, 200);
    });
    assert.deepEqual(e.filter((x) => x.action === 'secret.read'), []);
    // A read that fails (missing secret, broken reference) returns no value and records no read.
    await putSecret(owner, 'app', 'development', 'BROKEN', '${MISSING}');
    e = await during(async () => {
      assert.equal((await owner('GET', secretsPath('app', 'development', 'BROKEN'))).status, 422);
      assert.equal((await owner('GET', secretsPath('app', 'development', 'NOPE'))).status, 404);
    });
    assert.deepEqual(e.filter((x) => x.action === 'secret.read'), []);
    assert.equal((await owner('DELETE', secretsPath('app', 'development', 'BROKEN'))).status, 204);
  });

  it('a failed login is recorded as a failure, tied to the answer by request id (known and unknown accounts)', async () => {
    const res = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: 'wrong-password-here' });
    assertError(res, 401, 'invalid_credentials');
    const e = (await events()).find((x) => x.requestId === res.body.requestId);
    assertEvent(e, { action: 'session.create', outcome: 'failure', actor: { type: 'anonymous' }, target: { type: 'user', id: ownerId } });
    assert.equal(e!.details.reason, 'wrong_password', 'the reason is kept in the audit log (never in the answer)');
    assert.ok(!JSON.stringify(e).includes('wrong-password-here'));
    // An unknown account belongs to no org: the record exists, outside every org's view.
    const unknown = await api(srv)('POST', '/api/v1/auth/login', { email: 'ghost@example.com', password: 'ghost-password-1' });
    assertError(unknown, 401, 'invalid_credentials');
    const row = await srv.db.selectFrom('audit_events').selectAll().where('request_id', '=', unknown.body.requestId).executeTakeFirstOrThrow();
    assert.equal(row.outcome, 'failure');
    assert.equal(row.org_id, null);
    assert.equal(row.ip, '127.0.0.1');
    assert.equal(JSON.parse(row.details).reason, 'unknown_account');
    assert.ok(!JSON.stringify(row).includes('ghost-password-1'));
    assert.ok(!unknown.text.includes('unknown_account') && !res.text.includes('wrong_password'));
  });

  it('pages newest first with limit and before', async () => {
    const page1 = (await owner('GET', '/api/v1/audit?limit=3')).body.events as Event[];
    assert.equal(page1.length, 3);
    assert.ok(page1[0]!.id > page1[1]!.id && page1[1]!.id > page1[2]!.id);
    const page2 = (await owner('GET', `/api/v1/audit?limit=3&before=${page1[2]!.id}`)).body.events as Event[];
    assert.ok(page2[0]!.id < page1[2]!.id);
    assertError(await owner('GET', '/api/v1/audit?limit=0'), 400, 'validation_failed');
    assertError(await owner('GET', '/api/v1/audit?limit=501'), 400, 'validation_failed');
  });

  it('no event anywhere holds a stored value', async () => {
    const rows = await srv.db.selectFrom('audit_events').selectAll().execute();
    const text = JSON.stringify(rows);
    for (const stored of await srv.storedValues()) if (stored.length >= 8) assert.ok(!text.includes(stored), 'a stored value in audit_events');
  });

  describe('fail-closed when the audit record cannot be written', () => {
    const hidden = 'audit_events_unavailable';
    async function withoutAudit(work: () => Promise<void>): Promise<void> {
      await renameTable(srv, 'audit_events', hidden);
      try {
        await work();
      } finally {
        await renameTable(srv, hidden, 'audit_events');
      }
    }
    const assertFault = (res: ApiAnswer, ...mustNotContain: string[]) => {
      assertError(res, 500, 'internal_error');
      for (const s of mustNotContain) assert.ok(!res.text.includes(s), 'a value in the error answer');
    };

    it('a write is rolled back, a read returns no value, a sign-in gives no session', async () => {
      const before = v('BEFORE');
      await putSecret(owner, 'app', 'development', 'GUARDED', before);
      const attempted = v('ATTEMPT');
      await withoutAudit(async () => {
        assertFault(await owner('PUT', secretsPath('app', 'development', 'GUARDED'), { value: attempted }), before, attempted);
        assertFault(await owner('PATCH', secretsPath('app', 'development'), { secrets: [{ key: 'GUARDED_NEW', value: attempted }] }), attempted);
        assertFault(await owner('DELETE', secretsPath('app', 'development', 'GUARDED')), before);
        assertFault(await owner('GET', secretsPath('app', 'development', 'GUARDED')), before);
        assertFault(await owner('GET', secretsPath('app', 'development')), before);
        assertFault(await owner('POST', '/api/v1/projects', { name: 'unaudited' }));
        assertFault(await owner('POST', '/api/v1/admin/rotate-keys'));
        const login = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
        assertError(login, 500, 'internal_error');
        assert.ok(!login.text.includes('kn_ses_'));
        // Keys-only reads write no audit record, so they keep working.
        assert.equal((await owner('GET', `${secretsPath('app', 'development')}?values=false`)).status, 200);
      });
      assert.equal(await getValue(owner, 'app', 'development', 'GUARDED'), before);
      const versions = (await owner('GET', `${secretsPath('app', 'development', 'GUARDED')}/versions`)).body.versions;
      assert.equal(versions.length, 1, 'no version was added');
      assertError(await owner('GET', secretsPath('app', 'development', 'GUARDED_NEW')), 404, 'secret_not_found');
      assertError(await owner('GET', '/api/v1/projects/unaudited'), 404, 'project_not_found');
      assert.equal((await srv.db.selectFrom('data_keys').select('version').where('state', '=', 'active').executeTakeFirstOrThrow()).version, 2);
      const stored = await srv.storedValues();
      assert.ok(!stored.includes(attempted), 'the refused value was stored');
    });
  });
});
