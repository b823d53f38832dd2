import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, OWNER, setupOwner, type ApiAnswer } from '../test-support/api.js';
import { startServer } from '../test-support/server.js';

/**
 * Someone probing the sign-up form must learn nothing about which accounts exist, nor whether the
 * org is open to them: the answer (status, headers, body) and its cost are the same for a closed
 * org, an unknown org, a domain it does not admit, an address that has an account, and one that
 * will get a link. An attacker compares answers byte for byte, and times them.
 */
describe('sign-up answers say nothing about accounts or the org setting', () => {
  let srv: TestServer;
  const PASSWORD = 'Juniper-Comet-Basalt-7719';
  let ip = 0;
  // A fresh client address per request: the per-address limits are not what this test is about.
  const signup = (body: Record<string, string>): Promise<ApiAnswer> =>
    api(srv)('POST', '/api/v1/auth/signup', { password: PASSWORD, ...body }, { headers: { 'x-forwarded-for': `198.51.100.${++ip}` } });
  /** What an attacker can compare: everything but the request id and the date. */
  const visible = (res: ApiAnswer) => ({
    status: res.status,
    text: res.text,
    headers: [...res.headers.entries()].filter(([name]) => name !== 'date' && name !== 'x-request-id').sort(),
  });

  before(async () => {
    srv = await startServer({ env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    const owner = api(srv, await setupOwner(srv));
    await api(srv)('POST', '/api/v1/auth/signup', { email: 'closed@example.com', password: PASSWORD });
    const res = await owner('PATCH', '/api/v1/org/settings', { openSignup: { enabled: true, allowedDomains: ['example.com'] } });
    assert.equal(res.status, 200, res.text);
  });
  after(() => srv.close());

  const cases: Record<string, Record<string, string>> = {
    'an address that will get a link': { email: 'newcomer@example.com' },
    'an address that has an account': { email: OWNER.email },
    'a domain the org does not admit': { email: 'someone@elsewhere.test' },
    'an org that does not exist': { email: 'newcomer2@example.com', org: 'Nope Inc' },
  };

  it('answers byte for byte the same, a closed org included', async () => {
    const closedSrv = await startServer();
    let closed: ApiAnswer;
    try {
      await setupOwner(closedSrv);
      closed = await api(closedSrv)('POST', '/api/v1/auth/signup', { email: OWNER.email, password: PASSWORD });
    } finally {
      await closedSrv.close();
    }
    const expected = visible(closed);
    assert.equal(expected.status, 202);
    for (const [label, body] of Object.entries(cases)) {
      assert.deepEqual(visible(await signup(body)), expected, label);
      await srv.keynest.settled();
    }
    const users = await srv.db.selectFrom('users').select('email').execute();
    assert.deepEqual(users.map((u) => u.email), [OWNER.email], 'no account exists before a link is used');
  });

  it('costs the same: the policy check and the password hash run in every case, the rest after the answer', async () => {
    // The fastest of several runs per case, against the noise of a shared machine. The hash is
    // about half of an answer's time (~12 of ~22 ms here); a case that skipped it would answer in
    // about half the time of the others, past the factor of 1.6 allowed for noise.
    const fastest: Record<string, number> = {};
    const ROUNDS = 7;
    // Addresses of their own per round: each address may ask only 5 times an hour.
    const hash = (await srv.db.selectFrom('users').select('password_hash').executeTakeFirstOrThrow()).password_hash;
    for (let round = 0; round < ROUNDS; round++) {
      await srv.db.insertInto('users').values({ id: `usr_timing${round}`, email: `existing${round}@example.com`, password_hash: hash, created_at: 0, email_verified_at: null }).execute();
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, body] of Object.entries(cases)) {
        const email = body.email === OWNER.email ? `existing${round}@example.com` : `r${round}.${body.email}`;
        const started = performance.now();
        const res = await signup({ ...body, email });
        const took = performance.now() - started;
        assert.equal(res.status, 202, label);
        fastest[label] = Math.min(fastest[label] ?? Infinity, took);
        await srv.keynest.settled();
      }
    }
    const times = Object.values(fastest);
    assert.ok(Math.max(...times) / Math.min(...times) < 1.6, `answer times differ too much: ${JSON.stringify(fastest)}`);
  });
});
