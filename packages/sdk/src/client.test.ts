import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeyNestApiError, KeyNestClient, type FetchLike } from './index.js';

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that records each request and answers with the given status and body. */
function recordingFetch(status: number, answer: unknown, seen: Seen[]): FetchLike {
  return async (input, init) => {
    seen.push({
      url: input,
      method: init.method,
      headers: { ...init.headers },
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    });
    const text = answer === undefined ? null : JSON.stringify(answer);
    return new Response(text, { status, headers: { 'content-type': 'application/json' } });
  };
}

test('path segments are URI-encoded and the token is sent as a bearer', async () => {
  const seen: Seen[] = [];
  const client = new KeyNestClient({
    server: 'http://keynest.test/',
    token: 'eyJ.token.abc',
    fetch: recordingFetch(200, { key: 'A', value: 'x', version: 1 }, seen),
  });
  await client.getSecret('my app/1', 'prod?x', 'KEY#1', { raw: true });
  assert.equal(seen[0]!.url, 'http://keynest.test/api/v1/projects/my%20app%2F1/environments/prod%3Fx/secrets/KEY%231?raw=true');
  assert.equal(seen[0]!.headers.authorization, 'Bearer eyJ.token.abc');
});

test('listSecrets sends only the options asked for', async () => {
  const seen: Seen[] = [];
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, { secrets: [] }, seen) });
  await client.listSecrets('p', 'e');
  await client.listSecrets('p', 'e', { values: false, raw: true, includeDeleted: true });
  assert.equal(seen[0]!.url, 'http://k.test/api/v1/projects/p/environments/e/secrets');
  assert.equal(seen[1]!.url, 'http://k.test/api/v1/projects/p/environments/e/secrets?values=false&raw=true&includeDeleted=true');
  assert.equal(seen[0]!.headers.authorization, undefined);
});

test('setSecrets sends one PATCH and leaves out absent ifVersion', async () => {
  const seen: Seen[] = [];
  const results = [{ key: 'A', version: 1, status: 'added' }];
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, { results }, seen) });
  const answer = await client.setSecrets('p', 'e', [{ key: 'A', value: '1' }, { key: 'B', value: '2', ifVersion: 0 }]);
  assert.deepEqual(answer, results);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.method, 'PATCH');
  assert.deepEqual(seen[0]!.body, { secrets: [{ key: 'A', value: '1' }, { key: 'B', value: '2', ifVersion: 0 }] });
});

test('deleteSecret passes ifVersion in the query and accepts 204', async () => {
  const seen: Seen[] = [];
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(204, undefined, seen) });
  assert.equal(await client.deleteSecret('p', 'e', 'K', { ifVersion: 3 }), undefined);
  assert.equal(seen[0]!.url, 'http://k.test/api/v1/projects/p/environments/e/secrets/K?ifVersion=3');
  assert.equal(seen[0]!.method, 'DELETE');
});

test('an error answer becomes a KeyNestApiError with its code, message and request id', async () => {
  const body = { error: { code: 'version_conflict', message: 'Version mismatch' }, requestId: 'req-7' };
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(409, body, []) });
  await assert.rejects(client.setSecret('p', 'e', 'K', 'v', { ifVersion: 1 }), (error: unknown) => {
    assert.ok(error instanceof KeyNestApiError);
    assert.equal(error.status, 409);
    assert.equal(error.code, 'version_conflict');
    assert.equal(error.message, 'Version mismatch');
    assert.equal(error.requestId, 'req-7');
    return true;
  });
});

test('an answer that is not the documented error body still gives a KeyNestApiError', async () => {
  const fetch: FetchLike = async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' });
  const client = new KeyNestClient({ server: 'http://k.test', fetch });
  await assert.rejects(client.me(), { name: 'KeyNestApiError', status: 502, code: 'unexpected_response' });
});

test('a server that cannot be reached gives server_unreachable naming the URL', async () => {
  // A port that was just free: nothing listens on it once the probe server is closed.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const server = `http://127.0.0.1:${port}`;
  const client = new KeyNestClient({ server });
  await assert.rejects(client.setupStatus(), (error: unknown) => {
    assert.ok(error instanceof KeyNestApiError);
    assert.equal(error.status, 0);
    assert.equal(error.code, 'server_unreachable');
    assert.match(error.message, new RegExp(server.replace(/\./g, '\\.')));
    return true;
  });
});

test('withToken gives a new client and leaves the first unchanged', async () => {
  const seen: Seen[] = [];
  const first = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, { projects: [] }, seen) });
  const second = first.withToken('kn_api_x');
  await first.listProjects();
  await second.listProjects();
  assert.equal(first.token, undefined);
  assert.equal(seen[0]!.headers.authorization, undefined);
  assert.equal(seen[1]!.headers.authorization, 'Bearer kn_api_x');
});

test('renewToken: a token refused as unauthenticated is renewed once and the request sent again', async () => {
  const seen: string[] = [];
  const fetch: FetchLike = async (_input, init) => {
    seen.push(init.headers.authorization ?? '');
    const ok = init.headers.authorization === 'Bearer fresh';
    const body = ok ? { principal: { type: 'user' } } : { error: { code: 'unauthenticated', message: 'expired' }, requestId: 'r' };
    return new Response(JSON.stringify(body), { status: ok ? 200 : 401, headers: { 'content-type': 'application/json' } });
  };
  let renewals = 0;
  const client = new KeyNestClient({ server: 'http://k.test', token: 'stale', fetch, renewToken: async (refusedToken) => (assert.equal(refusedToken, 'stale'), renewals++, 'fresh') });
  await client.me();
  assert.deepEqual(seen, ['Bearer stale', 'Bearer fresh']);
  assert.equal(client.token, 'fresh');
  await client.me();
  assert.equal(renewals, 1, 'the renewed token is kept');

  // Giving up (null) surfaces the original error; a renewed token that is refused too is not renewed again.
  const giveUp = new KeyNestClient({ server: 'http://k.test', token: 'stale', fetch, renewToken: async () => null });
  await assert.rejects(giveUp.me(), (e: unknown) => e instanceof KeyNestApiError && e.code === 'unauthenticated');
  let calls = 0;
  const stillStale = new KeyNestClient({ server: 'http://k.test', token: 'stale', fetch, renewToken: async () => (calls++, 'also-stale') });
  await assert.rejects(stillStale.me(), (e: unknown) => e instanceof KeyNestApiError && e.status === 401);
  assert.equal(calls, 1);
});

test('renewToken is not called for other errors, nor without a token', async () => {
  let calls = 0;
  const renewToken = async () => (calls++, 'x');
  const forbidden = new KeyNestClient({ server: 'http://k.test', token: 't', renewToken, fetch: recordingFetch(403, { error: { code: 'forbidden', message: 'no' }, requestId: 'r' }, []) });
  await assert.rejects(forbidden.me(), (e: unknown) => e instanceof KeyNestApiError && e.code === 'forbidden');
  const anonymous = new KeyNestClient({ server: 'http://k.test', renewToken, fetch: recordingFetch(401, { error: { code: 'unauthenticated', message: 'no' }, requestId: 'r' }, []) });
  await assert.rejects(anonymous.me());
  const badRefresh = new KeyNestClient({ server: 'http://k.test', token: 't', renewToken, fetch: recordingFetch(401, { error: { code: 'invalid_refresh_token', message: 'no' }, requestId: 'r' }, []) });
  await assert.rejects(badRefresh.refresh('kn_ref_x'));
  assert.equal(calls, 0);
});

test('sign-up and invitations: one request each, absent options left out, ids encoded', async () => {
  const seen: Seen[] = [];
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, { status: 'sent_if_allowed' }, seen) });
  await client.signup({ email: 'a@b.test', password: 'pw' });
  await client.signup({ email: 'a@b.test', password: 'pw', org: 'Acme' });
  await client.verifySignup({ token: 'kn_sgn_x', password: 'pw' });
  await client.acceptInvitation({ token: 'kn_inv_x', password: 'pw', rememberMe: true, totp: '123456' });
  await client.revokeInvitation('inv/1');
  assert.deepEqual(
    seen.map((s) => [s.method, s.url, s.body]),
    [
      ['POST', 'http://k.test/api/v1/auth/signup', { email: 'a@b.test', password: 'pw' }],
      ['POST', 'http://k.test/api/v1/auth/signup', { email: 'a@b.test', password: 'pw', org: 'Acme' }],
      ['POST', 'http://k.test/api/v1/auth/signup/verify', { token: 'kn_sgn_x', password: 'pw' }],
      ['POST', 'http://k.test/api/v1/auth/invitations/accept', { token: 'kn_inv_x', password: 'pw', rememberMe: true, totp: '123456' }],
      ['DELETE', 'http://k.test/api/v1/org/invitations/inv%2F1', undefined],
    ],
  );
});

test('members: list, set a role and remove, ids encoded', async () => {
  const seen: Seen[] = [];
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, { members: [], member: { userId: 'usr/1' } }, seen) });
  await client.listMembers();
  await client.setMemberRole('usr/1', 'admin');
  await client.removeMember('usr/1');
  assert.deepEqual(
    seen.map((s) => [s.method, s.url, s.body]),
    [
      ['GET', 'http://k.test/api/v1/org/members', undefined],
      ['PATCH', 'http://k.test/api/v1/org/members/usr%2F1', { role: 'admin' }],
      ['DELETE', 'http://k.test/api/v1/org/members/usr%2F1', undefined],
    ],
  );
});

test('renewToken: parallel requests refused together share one renewal, and it is told which token was refused', async () => {
  let current = 'first';
  const fetch: FetchLike = async (_input, init) => {
    await new Promise((r) => setTimeout(r, 5));
    const ok = init.headers.authorization === `Bearer ${current}`;
    const body = ok ? { principal: { type: 'user' } } : { error: { code: 'unauthenticated', message: 'expired' }, requestId: 'r' };
    return new Response(JSON.stringify(body), { status: ok ? 200 : 401, headers: { 'content-type': 'application/json' } });
  };
  const refused: string[] = [];
  let n = 0;
  const client = new KeyNestClient({
    server: 'http://k.test',
    token: 'first',
    fetch,
    renewToken: async (token) => {
      refused.push(token);
      await new Promise((r) => setTimeout(r, 5));
      return `renewed-${++n}`;
    },
  });
  current = 'renewed-1';
  await Promise.all([client.me(), client.me(), client.me()]);
  assert.deepEqual(refused, ['first'], 'one renewal for three refused requests');
  // The renewed token expires too: a second renewal, for the token refused this time.
  current = 'renewed-2';
  await Promise.all([client.me(), client.me()]);
  assert.deepEqual(refused, ['first', 'renewed-1']);
  assert.equal(client.token, 'renewed-2');
});

test('roles and member roles: the methods send the documented requests, built-in and custom roles alike', async () => {
  const seen: Seen[] = [];
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, { role: {}, member: {}, memberRole: {}, roles: [], templates: [], memberRoles: [] }, seen) });
  await client.createRole({ name: 'Dev', rules: [{ permissions: ['project:read'], environments: ['development'] }] });
  await client.createRole({ name: 'Ops', template: 'ci-deployer', environments: ['production'] });
  await client.updateRole('Dev name', { description: null });
  await client.getRole('rol_1');
  await client.listRoleTemplates();
  await client.setMemberRole('usr_1', 'admin');
  await client.setMemberRole('usr_1', { roleId: 'rol_1' });
  await client.setProjectMemberRole('my app', 'usr_1', 'viewer');
  await client.listProjectMemberRoles('my app');
  assert.deepEqual(
    seen.map((s) => [s.method, s.url.replace('http://k.test/api/v1', ''), s.body]),
    [
      ['POST', '/roles', { name: 'Dev', rules: [{ permissions: ['project:read'], environments: ['development'] }] }],
      ['POST', '/roles', { name: 'Ops', template: 'ci-deployer', environments: ['production'] }],
      ['PATCH', '/roles/Dev%20name', { description: null }],
      ['GET', '/roles/rol_1', undefined],
      ['GET', '/role-templates', undefined],
      ['PATCH', '/org/members/usr_1', { role: 'admin' }],
      ['PATCH', '/org/members/usr_1', { roleId: 'rol_1' }],
      ['PUT', '/projects/my%20app/member-roles/usr_1', { role: 'viewer' }],
      ['GET', '/projects/my%20app/member-roles', undefined],
    ],
  );
});

test('audit sinks: list, add, test and remove send the documented requests, ids encoded', async () => {
  const seen: Seen[] = [];
  const answer = { sinks: [{ id: 'snk_1' }], sink: { id: 'snk_1' }, secret: 'kn_whs_x', delivered: true, status: 200, error: null, durationMs: 3 };
  const client = new KeyNestClient({ server: 'http://k.test', fetch: recordingFetch(200, answer, seen) });
  assert.deepEqual(await client.listAuditSinks(), [{ id: 'snk_1' }]);
  assert.equal((await client.addAuditSink({ url: 'https://siem.example/in', label: 'SIEM' })).secret, 'kn_whs_x');
  assert.equal((await client.testAuditSink('snk/1')).delivered, true);
  await client.removeAuditSink('snk/1');
  assert.deepEqual(
    seen.map((s) => [s.method, s.url, s.body]),
    [
      ['GET', 'http://k.test/api/v1/audit/sinks', undefined],
      ['POST', 'http://k.test/api/v1/audit/sinks', { url: 'https://siem.example/in', label: 'SIEM' }],
      ['POST', 'http://k.test/api/v1/audit/sinks/snk%2F1/test', undefined],
      ['DELETE', 'http://k.test/api/v1/audit/sinks/snk%2F1', undefined],
    ],
  );
});
