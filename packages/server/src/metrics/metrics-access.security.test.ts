import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, request, setupOwner } from '../test-support/api.js';
import { createProject, createToken } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

/** The figures span every organization: only the scraper's own credential reads them. */
describe('metrics on the main port (KEYNEST_METRICS_TOKEN)', () => {
  const token = `mt_${randomBytes(24).toString('hex')}`;
  let srv: TestServer;
  let session: string;
  let apiToken: string;

  before(async () => {
    srv = await startServer({ env: { KEYNEST_METRICS_TOKEN: token } });
    const owner = await setupOwner(srv);
    session = owner.accessToken;
    await createProject(api(srv, owner), 'app');
    apiToken = (await createToken(api(srv, owner), { project: 'app', environment: 'development', access: 'read' })).token;
  });
  after(() => srv.close());

  it('answers the right token, whatever the case of "Bearer", and HEAD without a body', async () => {
    assert.equal((await request(srv, token, 'GET', '/metrics')).status, 200);
    const lower = await request(srv, null, 'GET', '/metrics', undefined, { headers: { authorization: `bearer ${token}` } });
    assert.equal(lower.status, 200);
    const head = await request(srv, token, 'HEAD', '/metrics');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  it('refuses (401 unauthenticated) no token, a wrong one, a near miss, a session and an API token of the owner', async () => {
    const refused: [string, string | null][] = [
      ['no token', null],
      ['garbage', 'garbage'],
      ['one character off', `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`],
      ['a prefix', token.slice(0, 32)],
      ['the token twice', `${token}${token}`],
      ["the owner's session", session],
      ["the owner's API token", apiToken],
    ];
    for (const [label, credential] of refused) {
      const res = await request(srv, credential, 'GET', '/metrics');
      assertError(res, 401, 'unauthenticated');
      assert.ok(!res.text.includes('keynest_'), `${label}: no metric in the refusal`);
    }
    const basic = await request(srv, null, 'GET', '/metrics', undefined, { headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` } });
    assertError(basic, 401, 'unauthenticated');
  });

  it('the metrics token opens nothing else', async () => {
    for (const path of ['/api/v1/me', '/api/v1/projects', '/api/v1/security/status', '/api/v1/audit']) assertError(await request(srv, token, 'GET', path), 401, 'unauthenticated');
  });
});

describe('without any KEYNEST_METRICS_* setting', () => {
  it('/metrics does not exist (404, whatever the credential)', async () => {
    const srv = await startServer();
    try {
      assertError(await request(srv, null, 'GET', '/metrics'), 404, 'not_found');
      assertError(await request(srv, 'x'.repeat(40), 'GET', '/metrics'), 404, 'not_found');
      assert.equal(srv.keynest.metricsUrl, null);
    } finally {
      await srv.close();
    }
  });
});

describe('metrics on a listener of their own (KEYNEST_METRICS_PORT)', () => {
  it('serves /metrics there only; the main port has none; stops with the server', async () => {
    const srv = await startServer({ env: { KEYNEST_METRICS_PORT: '0' } });
    const url = srv.keynest.metricsUrl!;
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'loopback by default');
      await fetch(`${srv.url}/healthz`);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(await res.text(), /keynest_http_requests_total\{method="GET",route="\/healthz",status_class="2xx"\} 1/);
      assertError(await request(srv, null, 'GET', '/metrics'), 404, 'not_found');
      const base = url.replace(/\/metrics$/, '');
      for (const path of ['/', '/healthz', '/api/v1/projects', '/metrics/x']) assert.equal((await fetch(`${base}${path}`)).status, 404, path);
      const post = await fetch(url, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      assert.equal((await fetch(`${url}?x=1`)).status, 200);
    } finally {
      await srv.close();
    }
    await assert.rejects(fetch(url), 'the listener closed with the server');
  });

  it('asks for the token too when one is set', async () => {
    const token = `mt_${randomBytes(24).toString('hex')}`;
    const srv = await startServer({ env: { KEYNEST_METRICS_PORT: '0', KEYNEST_METRICS_TOKEN: token } });
    try {
      const url = srv.keynest.metricsUrl!;
      const refused = await fetch(url, { headers: { authorization: 'Bearer wrong' } });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unauthenticated');
      assert.equal((await fetch(url)).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assertError(await request(srv, token, 'GET', '/metrics'), 404, 'not_found');
    } finally {
      await srv.close();
    }
  });

  it('a taken port stops the start', async () => {
    const first = await startServer({ env: { KEYNEST_METRICS_PORT: '0' } });
    // Named here, so that the schema the failed start made (PostgreSQL) can be dropped.
    const schema = `t_${randomBytes(6).toString('hex')}`;
    try {
      const port = new URL(first.keynest.metricsUrl!).port;
      await assert.rejects(startServer({ schema, keepData: false, env: { KEYNEST_METRICS_PORT: port } }), /EADDRINUSE/);
    } finally {
      if (first.database === 'postgres') await first.owner.schema.dropSchema(schema).ifExists().cascade().execute();
      await first.close();
    }
  });
});
