import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, request, setupOwner, type Api, type ApiAnswer, type SignedInSession } from '../test-support/api.js';
import { createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { liveRoutes, routeId, type LiveRoute } from '../test-support/routes.js';

const METRICS_TOKEN = `security-headers-metrics-${'m'.repeat(32)}`;
const VALUE = 'security-headers-secret-value';

/**
 * What every answer must carry, whatever route, status or caller (docs/http-hardening.md#headers).
 * The CSP allows nothing (the server serves no HTML); HSTS belongs to the TLS listener and is not
 * asserted here.
 */
const EXPECTED: Record<string, string | RegExp> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'permissions-policy': /^(?:[a-z-]+=\(\)(?:, |$))+/,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

function assertHardened(headers: Headers, label: string): void {
  for (const [name, want] of Object.entries(EXPECTED)) {
    const got = headers.get(name);
    if (want instanceof RegExp) assert.match(got ?? '', want, `${label}: ${name}`);
    else assert.equal(got, want, `${label}: ${name}`);
  }
  for (const p of ['camera=()', 'microphone=()', 'geolocation=()', 'payment=()', 'usb=()']) assert.ok(headers.get('permissions-policy')!.includes(p), `${label}: permissions-policy lacks ${p}`);
  assert.ok(!/unsafe-inline|unsafe-eval/.test(headers.get('content-security-policy') ?? ''), `${label}: CSP`);
  assert.equal(headers.get('x-powered-by'), null, `${label}: x-powered-by`);
  assert.equal(headers.get('server'), null, `${label}: server`);
  assert.equal(headers.get('access-control-allow-origin'), null, `${label}: CORS is closed by default`);
  assert.equal(headers.get('access-control-allow-credentials'), null, `${label}: never credentials`);
}

/** A raw HTTP exchange: the whole answer as text, until the server closes the connection. */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

function headersOfRaw(answer: string): Headers {
  const head = answer.split('\r\n\r\n')[0]!.split('\r\n').slice(1);
  const h = new Headers();
  for (const line of head) {
    const i = line.indexOf(':');
    h.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return h;
}

describe('security headers on every answer', () => {
  let srv: TestServer;
  let owner: Api;
  let session: SignedInSession;
  let routes: LiveRoute[];
  before(async () => {
    srv = await startServer({ env: { KEYNEST_METRICS_TOKEN: METRICS_TOKEN, KEYNEST_BODY_LIMIT_BYTES: '4096' } });
    session = await setupOwner(srv);
    owner = api(srv, session);
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'KEY', VALUE);
    routes = liveRoutes(srv.keynest.app);
  });
  after(() => srv.close());

  const urlOf = (r: LiveRoute, params: Record<string, string>) => r.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));

  it('every route, every method, without credentials: public answers and refusals alike', async () => {
    assert.ok(routes.length >= 60, `only ${routes.length} routes`);
    for (const r of routes) {
      const res = await request(srv, null, r.method, urlOf(r, {}));
      assertHardened(res.headers, `${routeId(r)} (${res.status})`);
    }
  });

  it('every GET and HEAD route as the owner, with real names: the answers that carry data and values', async () => {
    const params = { project: 'app', env: 'development', key: 'KEY' };
    let ok = 0;
    for (const r of routes.filter((x) => x.method === 'GET' || x.method === 'HEAD')) {
      const res = await request(srv, r.url === '/metrics' ? METRICS_TOKEN : session, r.method, urlOf(r, params));
      assert.ok(res.status < 500, `${routeId(r)}: ${res.status} ${res.text}`);
      if (res.status === 200) ok++;
      assertHardened(res.headers, `${routeId(r)} as owner (${res.status})`);
    }
    assert.ok(ok >= 20, `only ${ok} answers were 200`);
    const value = await owner('GET', secretsPath('app', 'development', 'KEY'));
    assert.equal(value.body.value, VALUE);
    assertHardened(value.headers, 'a secret value');
  });

  it('writes, and every kind of error: validation, bad JSON, too large, too deep, 404, 405-ish, preflight', async () => {
    const answers: [string, ApiAnswer][] = [
      ['create project', await owner('POST', '/api/v1/projects', { name: 'other' })],
      ['put secret', await owner('PUT', secretsPath('app', 'development', 'NEW'), { value: 'v' })],
      ['validation', await owner('PUT', secretsPath('app', 'development', 'NEW'), { value: 'v', extra: 1 })],
      ['bad JSON', await owner('PUT', secretsPath('app', 'development', 'NEW'), undefined, { rawBody: '{"value": ' })],
      ['too large', await owner('PUT', secretsPath('app', 'development', 'NEW'), undefined, { rawBody: JSON.stringify({ value: 'x'.repeat(5000) }) })],
      ['too deep', await owner('PUT', secretsPath('app', 'development', 'NEW'), undefined, { rawBody: `{"value":${'['.repeat(100)}${']'.repeat(100)}}` })],
      ['not JSON', await owner('PUT', secretsPath('app', 'development', 'NEW'), undefined, { rawBody: 'v=1', contentType: 'application/x-www-form-urlencoded' })],
      ['unknown route', await owner('GET', '/nothing/here')],
      ['unknown route, POST', await request(srv, null, 'POST', '/api/v1/nothing', {})],
      ['preflight', await request(srv, null, 'OPTIONS', '/api/v1/projects', undefined, { headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' } })],
      ['plain OPTIONS', await request(srv, null, 'OPTIONS', '/api/v1/projects')],
      ['metrics', await request(srv, METRICS_TOKEN, 'GET', '/metrics')],
      ['openapi', await request(srv, null, 'GET', '/api/v1/openapi.json')],
      ['healthz', await request(srv, null, 'GET', '/healthz')],
    ];
    for (const [label, res] of answers) {
      assert.ok(res.status < 500, `${label}: ${res.status}`);
      assertHardened(res.headers, `${label} (${res.status})`);
    }
    assertError(answers[4]![1], 413, 'body_too_large');
    assertError(answers[5]![1], 400, 'json_too_deep');
    assertError(answers[9]![1], 403, 'cors_origin_not_allowed');
  });

  it('answers Node gives before there is a request (malformed HTTP, headers too large) carry them too, with a stable code', async () => {
    const malformed = await rawExchange(srv.url, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(malformed, /^HTTP\/1\.1 400 /);
    assertHardened(headersOfRaw(malformed), 'malformed request');
    assert.equal(JSON.parse(malformed.split('\r\n\r\n')[1]!).error.code, 'bad_request');
    const huge = await rawExchange(srv.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assertHardened(headersOfRaw(huge), 'headers too large');
    assert.equal(JSON.parse(huge.split('\r\n\r\n')[1]!).error.code, 'headers_too_large');
  });
});

describe('security headers on the metrics listener of its own', () => {
  it('its answers, the 404 and 401 ones too, carry them', async () => {
    const srv = await startServer({ env: { KEYNEST_METRICS_PORT: '0', KEYNEST_METRICS_TOKEN: METRICS_TOKEN } });
    try {
      const url = srv.keynest.metricsUrl!;
      const cases = [
        await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }),
        await fetch(url),
        await fetch(url.replace('/metrics', '/other')),
      ];
      assert.deepEqual(cases.map((r) => r.status), [200, 401, 404]);
      for (const res of cases) {
        await res.arrayBuffer();
        assertHardened(res.headers, `metrics listener ${res.status}`);
      }
    } finally {
      await srv.close();
    }
  });
});
