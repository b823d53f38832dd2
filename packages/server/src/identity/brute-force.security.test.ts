import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, setupOwner, type ApiAnswer } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { startServer } from '../test-support/server.js';

const login = (srv: TestServer, email: string, password: string, headers: Record<string, string> = {}) =>
  api(srv)('POST', '/api/v1/auth/login', { email, password }, { headers });

/** What a locked or limited answer shows: the same for a right and a wrong password. */
function shape(res: ApiAnswer) {
  return { status: res.status, code: res.body.error?.code, message: res.body.error?.message, retryAfter: res.headers.get('retry-after') };
}

describe('account lockout after consecutive failed sign-ins', () => {
  const clock = manualClock();
  let srv: TestServer;
  before(async () => {
    // Rate limits out of the way: this is about the per-account lock.
    srv = await startServer({ clock, env: { KEYNEST_LOGIN_RATE_IP: '1000/60', KEYNEST_LOGIN_RATE_ACCOUNT_IP: '1000/60' } });
    await setupOwner(srv);
  });
  after(() => srv.close());

  it('5 failures lock the account for 15 minutes: 423 with Retry-After, right password or not', async () => {
    for (let i = 0; i < 5; i++) assertError(await login(srv, OWNER.email, `wrong-${i}`), 401, 'invalid_credentials');
    const right = await login(srv, OWNER.email, OWNER.password);
    const wrong = await login(srv, OWNER.email, 'still-wrong');
    assertError(right, 423, 'account_locked');
    assert.deepEqual(shape(wrong), shape(right), 'a locked answer never tells whether the password was right');
    assert.equal(right.headers.get('retry-after'), String(15 * 60));
    assert.ok(!right.text.includes('session'), 'no session while locked');

    clock.advance(15 * 60 * 1000 - 1000);
    assertError(await login(srv, OWNER.email, OWNER.password), 423, 'account_locked');
    clock.advance(1000);
    assert.equal((await login(srv, OWNER.email, OWNER.password)).status, 200, 'the lock ends on time');
  });

  it('a success resets the count; emails are matched case-insensitively', async () => {
    for (let i = 0; i < 4; i++) assertError(await login(srv, OWNER.email.toUpperCase(), `wrong-${i}`), 401, 'invalid_credentials');
    assert.equal((await login(srv, OWNER.email, OWNER.password)).status, 200);
    for (let i = 0; i < 4; i++) assertError(await login(srv, OWNER.email, `wrong-${i}`), 401, 'invalid_credentials');
    assert.equal((await login(srv, OWNER.email, OWNER.password)).status, 200, 'still not locked: the count restarted');
  });

  it('an unknown email locks exactly like a real one (no enumeration through the lock)', async () => {
    const answers = async (email: string) => {
      const out = [];
      for (let i = 0; i < 6; i++) out.push(shape(await login(srv, email, `guess-${i}`)));
      return out;
    };
    clock.advance(60 * 60 * 1000);
    const real = await answers(OWNER.email);
    const unknown = await answers('nobody-here@example.com');
    assert.deepEqual(unknown, real);
    assert.equal(real[5]!.status, 423);
  });

  it('the audit log keeps why each sign-in failed and when an account was locked; the answers do not', async () => {
    const rows = await srv.db.selectFrom('audit_events').select(['action', 'outcome', 'details', 'target_id']).where('action', 'in', ['session.create', 'account.lock']).execute();
    const failures = rows.filter((r) => r.action === 'session.create' && r.outcome === 'failure').map((r) => JSON.parse(r.details).reason);
    assert.ok(failures.includes('wrong_password') && failures.includes('unknown_account'));
    const locks = rows.filter((r) => r.action === 'account.lock');
    assert.ok(locks.length >= 2, 'the real and the unknown account were both locked');
    for (const r of rows) assert.ok(!r.details.includes(OWNER.password) && !r.details.includes('guess-'), r.details);
    const answer = await login(srv, 'someone@example.com', 'x');
    assert.ok(!/unknown_account|wrong_password/.test(answer.text));
  });
});

describe('parallel attempts are charged before they are verified', () => {
  it('of 25 simultaneous wrong sign-ins, at most 5 are verified; the rest are refused as locked', async () => {
    const srv = await startServer({ env: { KEYNEST_LOGIN_RATE_IP: '1000/60', KEYNEST_LOGIN_RATE_ACCOUNT_IP: '1000/60' } });
    try {
      await setupOwner(srv);
      const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => login(srv, OWNER.email, `parallel-guess-${i}`)));
      const statuses = answers.map((a) => a.status);
      assert.ok(statuses.filter((s) => s === 401).length <= 5, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 423).length + statuses.filter((s) => s === 401).length, 25);
      assertError(await login(srv, OWNER.email, OWNER.password), 423, 'account_locked');
      // The lock the burst set is audited, and the owner is told, like any other lock.
      const locks = await srv.db.selectFrom('audit_events').select('action').where('action', '=', 'account.lock').execute();
      assert.equal(locks.length, 1);
      let outbox = '';
      for (let i = 0; i < 100 && !outbox.includes('account_locked'); i++) {
        await new Promise((r) => setTimeout(r, 20));
        outbox = existsSync(path.join(srv.dataDir, 'outbox.jsonl')) ? readFileSync(path.join(srv.dataDir, 'outbox.jsonl'), 'utf8') : '';
      }
      assert.match(outbox, /"kind":"account_locked"/);
    } finally {
      await srv.close();
    }
  });
});

describe('sign-in rate limits per IP and per account+IP', () => {
  let srv: TestServer;
  after(() => srv?.close());

  it('per IP: attempts beyond the limit get 429 rate_limited with Retry-After, whatever the account', async () => {
    srv = await startServer({ env: { KEYNEST_LOGIN_RATE_IP: '3/60' } });
    await setupOwner(srv);
    for (const email of ['a@example.com', 'b@example.com', OWNER.email]) assert.notEqual((await login(srv, email, 'x')).status, 429);
    const limited = await login(srv, OWNER.email, OWNER.password);
    assertError(limited, 429, 'rate_limited');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    await srv.close();
  });

  it('per account+IP: one account is limited while another from the same address is not', async () => {
    srv = await startServer({ env: { KEYNEST_LOGIN_RATE_ACCOUNT_IP: '2/60' } });
    await setupOwner(srv);
    for (let i = 0; i < 2; i++) assertError(await login(srv, OWNER.email, 'wrong'), 401, 'invalid_credentials');
    assertError(await login(srv, OWNER.email, OWNER.password), 429, 'rate_limited');
    assertError(await login(srv, 'other@example.com', 'wrong'), 401, 'invalid_credentials');
    await srv.close();
  });

  it('X-Forwarded-For is ignored unless the proxy is trusted (KEYNEST_TRUST_PROXY)', async () => {
    srv = await startServer({ env: { KEYNEST_LOGIN_RATE_IP: '2/60' } });
    await setupOwner(srv);
    // Untrusted: a client cannot dodge the limit by inventing addresses.
    assert.equal((await login(srv, 'x@example.com', 'x', { 'x-forwarded-for': '203.0.113.1' })).status, 401);
    assert.equal((await login(srv, 'x@example.com', 'x', { 'x-forwarded-for': '203.0.113.2' })).status, 401);
    assertError(await login(srv, 'x@example.com', 'x', { 'x-forwarded-for': '203.0.113.3' }), 429, 'rate_limited');
    const ips = await srv.db.selectFrom('audit_events').select('ip').where('outcome', '=', 'failure').execute();
    assert.ok(ips.every((r) => r.ip === '127.0.0.1'), JSON.stringify(ips));
    await srv.close();

    srv = await startServer({ env: { KEYNEST_LOGIN_RATE_IP: '2/60', KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    await setupOwner(srv);
    for (const client of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      assert.equal((await login(srv, 'x@example.com', 'x', { 'x-forwarded-for': client })).status, 401, `separate bucket for ${client}`);
    }
    const seen = await srv.db.selectFrom('audit_events').select('ip').where('outcome', '=', 'failure').execute();
    assert.deepEqual(seen.map((r) => r.ip).sort(), ['203.0.113.1', '203.0.113.2', '203.0.113.3']);
  });
});
