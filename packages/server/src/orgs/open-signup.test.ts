import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../errors.js';
import { admitsEmail, openSignupColumns, openSignupOf } from './open-signup.js';

describe('open sign-up setting', () => {
  it('reads as off, any domain, viewer when nothing is stored', () => {
    assert.deepEqual(openSignupOf(undefined), { enabled: false, allowedDomains: [], role: 'viewer' });
    assert.deepEqual(openSignupOf({ open_signup: 1, signup_domains: 'a.test,b.test', signup_role: 'developer' }), { enabled: true, allowedDomains: ['a.test', 'b.test'], role: 'developer' });
  });

  it('an administrative role stored by hand (or under an older rule) is never given', () => {
    for (const role of ['owner', 'admin', 'root', '']) assert.equal(openSignupOf({ open_signup: 1, signup_domains: null, signup_role: role }).role, 'viewer');
  });

  it('admits exact domains only, and nobody while off', () => {
    const on = { enabled: true, allowedDomains: ['acme.com'], role: 'viewer' as const };
    assert.equal(admitsEmail(on, 'a@acme.com'), true);
    for (const email of ['a@eu.acme.com', 'a@acme.com.evil.test', 'a@notacme.com', 'acme.com@evil.test', 'a@acme.co']) assert.equal(admitsEmail(on, email), false, email);
    assert.equal(admitsEmail({ ...on, allowedDomains: [] }, 'a@anything.test'), true);
    assert.equal(admitsEmail({ ...on, enabled: false }, 'a@acme.com'), false);
  });

  it('normalizes domains, and refuses what is not a domain or more than 50', () => {
    assert.deepEqual(openSignupColumns({ allowedDomains: [' Acme.COM ', '@acme.com', 'xn--bcher-kva.example'] }), { signup_domains: 'acme.com,xn--bcher-kva.example' });
    assert.deepEqual(openSignupColumns({ allowedDomains: [] }), { signup_domains: null });
    assert.deepEqual(openSignupColumns({ enabled: true, role: 'developer' }), { open_signup: 1, signup_role: 'developer' });
    for (const bad of ['acme', 'a b.com', '*.acme.com', 'acme.com.', '-acme.com', 'a@b.com', 'acme..com']) {
      assert.throws(() => openSignupColumns({ allowedDomains: [bad] }), (e: unknown) => e instanceof AppError && e.code === 'validation_failed', bad);
    }
    assert.throws(() => openSignupColumns({ allowedDomains: Array.from({ length: 51 }, (_, i) => `d${i}.test`) }), AppError);
    assert.throws(() => openSignupColumns({ role: 'admin' }), (e: unknown) => e instanceof AppError && e.code === 'validation_failed');
  });
});
