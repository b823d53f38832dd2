import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, SignedInSession, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { createProject, createToken } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const MIN = 60 * 1000;

async function signIn(srv: TestServer, opts: { rememberMe?: boolean; userAgent?: string } = {}): Promise<{ token: string; refreshToken: string; call: Api }> {
  const res = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, ...(opts.rememberMe ? { rememberMe: true } : {}) }, { headers: opts.userAgent ? { 'user-agent': opts.userAgent } : {} });
  assert.equal(res.status, 200, res.text);
  // Renews its access token like a real client, so only the session's own end stops it.
  const session = SignedInSession.of(srv, res);
  return { token: session.accessToken, refreshToken: session.refreshToken, call: api(srv, session) };
}

const works = async (call: Api) => (await call('GET', '/api/v1/me')).status === 200;

describe('sessions: list, end, idle timeout, lifetime, limit', () => {
  const clock = manualClock();
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_SESSIONS_PER_USER: '4' } });
    await setupOwner(srv);
  });
  after(() => srv.close());

  it('lists your live sessions with device, address, lifetimes and which one is current', async () => {
    const laptop = await signIn(srv, { userAgent: FIREFOX });
    const phone = await signIn(srv, { userAgent: IPHONE, rememberMe: true });
    const res = await laptop.call('GET', '/api/v1/me/sessions');
    assert.equal(res.status, 200, res.text);
    const byUa = (ua: string) => res.body.sessions.find((s: { userAgent: string }) => s.userAgent === ua);
    const l = byUa(FIREFOX);
    const p = byUa(IPHONE);
    assert.deepEqual(l.device, { type: 'desktop', browser: 'Firefox', os: 'Linux' });
    assert.deepEqual(p.device, { type: 'mobile', browser: 'Safari', os: 'iOS' });
    assert.equal(l.current, true);
    assert.equal(p.current, false);
    assert.equal(l.ip, '127.0.0.1');
    assert.equal(l.location, null);
    assert.equal(Date.parse(l.expiresAt) - clock(), 12 * 60 * MIN, 'default lifetime 12 h');
    assert.equal(Date.parse(l.idleExpiresAt) - clock(), 30 * MIN, 'default idle timeout 30 min');
    assert.equal(Date.parse(p.expiresAt) - clock(), 30 * 24 * 60 * MIN, 'remember me: 30 days');
    assert.equal(p.rememberMe, true);
    assert.equal(l.secondFactor, 'none', 'signed in with a password alone');
    for (const t of [laptop.token, phone.token, laptop.refreshToken, phone.refreshToken]) assert.ok(!res.text.includes(t), 'tokens are never listed');
    await laptop.call('DELETE', '/api/v1/me/sessions');
    assert.equal(await works(phone.call), false);
  });

  it('ending one session makes its token fail at once; unknown ids are 404; the others keep working', async () => {
    const a = await signIn(srv);
    const b = await signIn(srv);
    const list = (await a.call('GET', '/api/v1/me/sessions')).body.sessions;
    const bId = list.find((s: { current: boolean }) => !s.current).id;
    assert.equal((await a.call('DELETE', `/api/v1/me/sessions/${bId}`)).status, 204);
    assertError(await b.call('GET', '/api/v1/me'), 401, 'unauthenticated');
    assertError(await a.call('DELETE', `/api/v1/me/sessions/${bId}`), 404, 'session_not_found');
    assertError(await a.call('DELETE', '/api/v1/me/sessions/ses_nope'), 404, 'session_not_found');
    assert.equal(await works(a.call), true);
    const audit = await srv.db.selectFrom('audit_events').select(['details']).where('action', '=', 'session.revoke').where('target_id', '=', bId).execute();
    assert.equal(audit.length, 1);
    await a.call('DELETE', '/api/v1/me/sessions');
  });

  it('revoke-others keeps only the current session; DELETE /me/sessions ends all, this one too', async () => {
    const a = await signIn(srv);
    const b = await signIn(srv);
    const c = await signIn(srv);
    const others = await c.call('POST', '/api/v1/me/sessions/revoke-others');
    assert.equal(others.status, 200, others.text);
    assert.ok(others.body.revoked >= 2);
    assert.deepEqual([await works(a.call), await works(b.call), await works(c.call)], [false, false, true]);
    const all = await c.call('DELETE', '/api/v1/me/sessions');
    assert.deepEqual(all.body, { revoked: 1 });
    assert.equal(await works(c.call), false);
  });

  it('an unused session ends after the idle timeout; use keeps it alive; remember-me idles after 7 days', async () => {
    const used = await signIn(srv);
    const unused = await signIn(srv);
    const remembered = await signIn(srv, { rememberMe: true });
    for (let i = 0; i < 3; i++) {
      clock.advance(20 * MIN);
      assert.equal(await works(used.call), true, `still alive after ${(i + 1) * 20} min of use`);
    }
    assert.equal(await works(unused.call), false, 'idle for 60 min: ended');
    assert.equal(await works(remembered.call), true);
    clock.advance(7 * 24 * 60 * MIN);
    assert.equal(await works(remembered.call), false, 'remember-me idles out after 7 days');
    await used.call('DELETE', '/api/v1/me/sessions');
  });

  it('a session ends at its absolute lifetime even when used', async () => {
    const s = await signIn(srv);
    // The test before moved the clock 7 days, so this sign-in started a signing-key rotation in the
    // background. Let it finish before the clock jumps again: a rotation still running when 29
    // minutes pass in an instant (never so in real time) would retire the key a refresh just used.
    await srv.keynest.services.signingKeys.close();
    // Used every 29 minutes, so it never idles out: 24 × 29 min = 11 h 36 min.
    for (let i = 0; i < 24; i++) {
      clock.advance(29 * MIN);
      assert.equal(await works(s.call), true, `in use at ${(i + 1) * 29} min`);
    }
    assert.equal(await works(s.call), true);
    clock.advance(25 * MIN);
    assert.equal(await works(s.call), false, 'past 12 h');
  });

  it('signing in beyond the per-user limit ends the oldest sessions (audited)', async () => {
    const sessions = [];
    for (let i = 0; i < 5; i++) {
      sessions.push(await signIn(srv));
      clock.advance(1000);
    }
    assert.equal(await works(sessions[0]!.call), false, 'the oldest was evicted');
    for (const s of sessions.slice(1)) assert.equal(await works(s.call), true);
    const listed = (await sessions[4]!.call('GET', '/api/v1/me/sessions')).body.sessions;
    assert.equal(listed.length, 4);
    const evictions = await srv.db.selectFrom('audit_events').select('details').where('action', '=', 'session.revoke').execute();
    assert.ok(evictions.some((r) => JSON.parse(r.details).reason === 'session_limit'));
  });

  it('API tokens cannot list or end sessions (403), and no one can without credentials (401)', async () => {
    const owner = await signIn(srv);
    await createProject(owner.call, 'sess');
    const t = await createToken(owner.call, { project: 'sess', environment: 'development', access: 'write' });
    assertError(await api(srv, t.token)('GET', '/api/v1/me/sessions'), 403, 'forbidden');
    assertError(await api(srv, t.token)('DELETE', '/api/v1/me/sessions'), 403, 'forbidden');
    assertError(await api(srv)('GET', '/api/v1/me/sessions'), 401, 'unauthenticated');
  });
});
