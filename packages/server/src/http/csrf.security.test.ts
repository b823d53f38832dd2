import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { assertError, OWNER, request } from '../test-support/api.js';
import { BrowserJar } from '../test-support/browser.js';

const REFRESH = '/api/v1/auth/refresh';
const PUBLIC_URL = 'https://keynest.example.com';

/**
 * Cross-site request forgery against the cookie-authenticated state change that exists today (a
 * refresh by cookie, which spends the browser's credential and mints new tokens): every forgery a
 * page on another site could attempt is refused with 403 csrf_failed, and the session's cookie is
 * left working; the same-origin page with the token passes (docs/http-hardening.md#csrf).
 */
describe('CSRF: state-changing requests authenticated by a cookie', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ env: { KEYNEST_PUBLIC_URL: PUBLIC_URL } });
    assert.equal((await request(srv, null, 'POST', '/api/v1/setup', { setupToken: srv.setupToken, ...OWNER })).status, 201);
  });
  after(() => srv.close());

  const browserSignIn = async (): Promise<BrowserJar> => {
    const jar = new BrowserJar(srv);
    const res = jar.take(await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, refreshTokenDelivery: 'cookie' }));
    assert.equal(res.status, 200, res.text);
    assert.ok(jar.get('__Host-keynest_refresh') && jar.get('__Host-keynest_csrf'));
    return jar;
  };
  const refresh = (headers: Record<string, string>) => request(srv, null, 'POST', REFRESH, {}, { headers });

  it('forged requests are refused with 403 csrf_failed, and spend nothing', async () => {
    const jar = await browserSignIn();
    const token = jar.get('__Host-keynest_csrf')!;
    const cookie = jar.cookieHeader();
    const forgeries: [string, Record<string, string>][] = [
      // What a form post or fetch from another site carries: the cookies, its own origin, no token.
      ['foreign Origin, no token', { cookie, origin: 'https://evil.example' }],
      ['foreign Origin, cookies only, cross-site', { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
      // Even a token guessed right does not help a foreign origin.
      ['foreign Origin with the right token', { cookie, origin: 'https://evil.example', 'x-csrf-token': token }],
      ['sibling subdomain', { cookie, origin: 'https://app.keynest.example.com', 'x-csrf-token': token }],
      ['same site but not same origin', jar.sameOrigin({ 'sec-fetch-site': 'same-site' })],
      ['Origin "null" (sandboxed frame, data: URL)', { cookie, origin: 'null', 'x-csrf-token': token }],
      ['no Origin, foreign Referer', { cookie, referer: 'https://evil.example/page', 'x-csrf-token': token }],
      ['no Origin and no Referer', { cookie, 'x-csrf-token': token }],
      ['same origin, no token', jar.sameOrigin({ 'x-csrf-token': '' })],
      ['same origin, wrong token', jar.sameOrigin({ 'x-csrf-token': `${token.slice(0, -2)}AA` })],
      ['same origin, header without the CSRF cookie', { cookie: `__Host-keynest_refresh=${jar.get('__Host-keynest_refresh')}`, origin: srv.url, 'x-csrf-token': token }],
      ['same origin, header and cookie equal but made up', { cookie: `__Host-keynest_refresh=${jar.get('__Host-keynest_refresh')}; __Host-keynest_csrf=made-up`, origin: srv.url, 'x-csrf-token': 'made-up' }],
    ];
    for (const [label, headers] of forgeries) {
      const res = await refresh(headers);
      assertError(res, 403, 'csrf_failed');
      assert.equal(res.headers.get('set-cookie'), null, `${label}: no cookie set or cleared`);
    }
    // A bearer token does not exempt a request whose credential is the cookie (refresh is public).
    assertError(await refresh({ cookie, origin: 'https://evil.example', authorization: 'Bearer anything' }), 403, 'csrf_failed');
    // Nothing was spent: the same cookie still refreshes from the page.
    const ok = jar.take(await refresh(jar.sameOrigin()));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(jar.get('__Host-keynest_csrf'), token, 'the session keeps its token across refreshes');
  });

  it('the same-origin page with the token passes: by Origin, by KEYNEST_PUBLIC_URL, by Referer alone', async () => {
    const jar = await browserSignIn();
    const viaOwnOrigin = jar.take(await refresh(jar.sameOrigin()));
    assert.equal(viaOwnOrigin.status, 200, viaOwnOrigin.text);
    assert.equal(viaOwnOrigin.body.refreshToken, undefined);
    // Behind a proxy the page's origin is the public URL, not the address the server sees.
    const viaPublicUrl = jar.take(await refresh(jar.sameOrigin({ origin: PUBLIC_URL })));
    assert.equal(viaPublicUrl.status, 200, viaPublicUrl.text);
    const headers = jar.sameOrigin({ referer: `${srv.url}/settings` });
    delete headers.origin;
    delete headers['sec-fetch-site'];
    const viaReferer = jar.take(await refresh(headers));
    assert.equal(viaReferer.status, 200, viaReferer.text);
    // A body refresh token is no cookie: a CLI or SDK needs no CSRF token.
    const cli = await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    assert.equal((await request(srv, null, 'POST', REFRESH, { refreshToken: cli.body.refreshToken })).status, 200);
  });

  it("a token from another session fails, even with that session's cookie pair swapped in halfway", async () => {
    const victim = await browserSignIn();
    const attacker = await browserSignIn();
    const attackerToken = attacker.get('__Host-keynest_csrf')!;
    assert.notEqual(attackerToken, victim.get('__Host-keynest_csrf'));
    // The attacker's own valid token pair, with the victim's refresh cookie.
    const mixed = {
      cookie: `__Host-keynest_refresh=${victim.get('__Host-keynest_refresh')}; __Host-keynest_csrf=${attackerToken}`,
      origin: srv.url,
      'x-csrf-token': attackerToken,
    };
    assertError(await refresh(mixed), 403, 'csrf_failed');
    assert.equal(victim.take(await refresh(victim.sameOrigin())).status, 200, "the victim's session is untouched");
    // A refresh cookie no session ever had cannot be checked: refused.
    assertError(await refresh({ ...mixed, cookie: `__Host-keynest_refresh=kn_ref_${'A'.repeat(43)}; __Host-keynest_csrf=${attackerToken}` }), 403, 'csrf_failed');
  });

  it('bearer-token requests are exempt, cookies or not; safe methods are never checked', async () => {
    const jar = await browserSignIn();
    const login = await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    // The browser attaches the refresh cookie to every same-origin request; the bearer token is the credential.
    const foreign = { cookie: jar.cookieHeader(), origin: 'https://evil.example' };
    const created = await request(srv, login.body.accessToken, 'POST', '/api/v1/projects', { name: 'csrf-exempt' }, { headers: foreign });
    assert.equal(created.status, 201, created.text);
    const read = await request(srv, login.body.accessToken, 'GET', '/api/v1/projects', undefined, { headers: foreign });
    assert.equal(read.status, 200);
    assert.equal((await request(srv, null, 'GET', '/api/v1/setup', undefined, { headers: foreign })).status, 200);
    // Sign-out by bearer clears both cookies.
    const out = jar.take(await request(srv, login.body.accessToken, 'POST', '/api/v1/auth/logout', undefined, { headers: foreign }));
    assert.equal(out.status, 204);
    assert.deepEqual(out.headers.getSetCookie().map((c) => c.split(';')[0]), ['__Host-keynest_refresh=', '__Host-keynest_csrf=']);
  });

  it('the cookies: __Host- prefixed, Secure, SameSite=Strict; the refresh cookie HttpOnly, the CSRF cookie readable', async () => {
    const res = await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, refreshTokenDelivery: 'cookie' });
    const [refreshCookie, csrfCookie] = res.headers.getSetCookie();
    assert.match(refreshCookie!, /^__Host-keynest_refresh=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict$/);
    assert.match(csrfCookie!, /^__Host-keynest_csrf=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; Secure; SameSite=Strict$/);
    assert.ok(!/Domain=/i.test(refreshCookie! + csrfCookie!));
  });

  it('no token, cookie or CSRF header value reaches the log', async () => {
    const jar = await browserSignIn();
    await refresh({ cookie: jar.cookieHeader(), origin: 'https://evil.example', 'x-csrf-token': jar.get('__Host-keynest_csrf')! });
    const log = srv.logText();
    assert.match(log, /cross-site request forgery check failed/);
    for (const v of jar.cookies.values()) assert.ok(!log.includes(v), 'a cookie value is in the log');
  });
});
