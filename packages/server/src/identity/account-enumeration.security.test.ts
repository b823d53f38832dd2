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
    // From a fresh address too: the RateLimit-* headers then describe a first request, as in every case below.
    const closedSrv = await startServer({ env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    let closed: ApiAnswer;
    try {
      await setupOwner(closedSrv);
      closed = await api(closedSrv)('POST', '/api/v1/auth/signup', { email: OWNER.email, password: PASSWORD }, { headers: { 'x-forwarded-for': '198.51.100.250' } });
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
    // The hash is about half of an answer's time (~12 of ~22 ms on an idle machine); a case that
    // skipped it would answer in about half the time of the others. Each round times every case
    // once, back to back (in a rotating order), and each time is taken relative to its round's
    // mean, so a machine slowed by other work slows all cases of a round alike; the median over
    // the rounds then says how each case compares. A factor of 1.6 between the extremes is allowed
    // for noise, against about 2 for a case that skips the hash. A spoiled measurement is taken
    // again, up to three times: a case that really skips the hash is fast in every one.
    const ROUNDS = 9;
    const ATTEMPTS = 3;
    const labels = Object.keys(cases);
    // Addresses of their own per run: each address may ask only 5 times an hour.
    const hash = (await srv.db.selectFrom('users').select('password_hash').executeTakeFirstOrThrow()).password_hash;
    for (let n = 0; n < ROUNDS * ATTEMPTS; n++) {
      await srv.db.insertInto('users').values({ id: `usr_timing${n}`, email: `existing${n}@example.com`, password_hash: hash, created_at: 0, email_verified_at: null }).execute();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    let relative: Record<string, number> = {};
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const shares: Record<string, number[]> = Object.fromEntries(labels.map((l) => [l, []]));
      for (let round = 0; round < ROUNDS; round++) {
        const n = attempt * ROUNDS + round;
        const took: Record<string, number> = {};
        for (let i = 0; i < labels.length; i++) {
          const label = labels[(i + round) % labels.length]!;
          const body = cases[label]!;
          const email = body.email === OWNER.email ? `existing${n}@example.com` : `r${n}.${body.email}`;
          const started = performance.now();
          const res = await signup({ ...body, email });
          took[label] = performance.now() - started;
          assert.equal(res.status, 202, label);
          await srv.keynest.settled();
        }
        const mean = labels.reduce((sum, l) => sum + took[l]!, 0) / labels.length;
        for (const l of labels) shares[l]!.push(took[l]! / mean);
      }
      relative = Object.fromEntries(labels.map((l) => [l, median(shares[l]!)]));
      const values = Object.values(relative);
      if (Math.max(...values) / Math.min(...values) < 1.6) return;
    }
    assert.fail(`answer times differ too much in every measurement; the last, relative to the mean: ${JSON.stringify(relative)}`);
  });
});
