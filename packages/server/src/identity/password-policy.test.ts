import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_PASSWORD_POLICY,
  PasswordChecker,
  parsePasswordPolicy,
  type PasswordContext,
  type PasswordPolicy,
  type PasswordProblem,
} from './password-policy.js';

const PRINTABLE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&*+-./:;<=>?@^_~';
const DISTINCT_EMOJI = ['😀', '🐍', '🚀', '🌵', '🎲', '🧩', '🦊', '🍉', '🔑', '🛸', '🎻', '🪐'];

/** Seeded (mulberry32) so a failure names a reproducible password rather than a flaky one. */
function randomStrings(seed: number, count: number, length: number): string[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length }, () => PRINTABLE[Math.floor(next() * PRINTABLE.length)]).join(''),
  );
}

/** Every check goes through here, so every problem any test produces is checked for the password. */
function check(checker: PasswordChecker, password: string, context: PasswordContext = {}): PasswordProblem | null {
  const problem = checker.check(password, context);
  if (problem) {
    assert.ok(!problem.message.includes(password), `message of ${problem.rule} contains the password`);
    // `rule` is a fixed name ("too_short" contains "short"), not data derived from the password.
    const { rule, ...details } = problem;
    for (const value of Object.values(details).flat()) {
      if (typeof value === 'string') assert.ok(!value.includes(password), `${rule} detail contains the password`);
    }
  }
  return problem;
}

function expectRule(checker: PasswordChecker, password: string, rule: PasswordProblem['rule'], context: PasswordContext = {}): PasswordProblem {
  const problem = check(checker, password, context);
  assert.equal(problem?.rule, rule, `expected ${rule} for ${JSON.stringify(password)}, got ${JSON.stringify(problem)}`);
  assert.ok(problem);
  return problem;
}

const checker = new PasswordChecker(DEFAULT_PASSWORD_POLICY);

describe('PasswordChecker with the default policy', () => {
  it('rejects a short password as too_short', () => {
    const problem = expectRule(checker, 'short', 'too_short');
    assert.deepEqual(problem, { rule: 'too_short', message: 'Use at least 12 characters.', minLength: 12 });
  });

  it('rejects 257 characters as too_long and takes exactly 256', () => {
    const [long] = randomStrings(1, 1, 257);
    assert.ok(long);
    expectRule(checker, long, 'too_long');
    assert.equal(check(checker, long.slice(0, 256)), null);
  });

  it('rejects passwords from the shipped common list as too_common, ignoring case and width', () => {
    // Both are entries of @zxcvbn-ts/language-common's `passwords` list (checked against v3.0.4).
    expectRule(checker, 'password1234', 'too_common');
    expectRule(checker, 'qwertyuiop123', 'too_common');
    expectRule(checker, 'PassWord1234', 'too_common');
    // Full-width letters fold (NFKC) to "password1234"; they must not slip past the list.
    expectRule(checker, 'ｐａｓｓｗｏｒｄ１２３４', 'too_common');
  });

  it('rejects a weak password that is not on the list as too_weak, with zxcvbn feedback', () => {
    // "aaaaaaaaaaaa" is not in the common list (the list holds real leaked passwords, and only
    // "aaaaaa"-style short repeats), so it is zxcvbn's repeat matcher that scores it 0.
    const problem = expectRule(checker, 'aaaaaaaaaaaa', 'too_weak');
    assert.ok(problem.rule === 'too_weak');
    assert.equal(problem.score, 0);
    assert.equal(problem.minScore, 3);
    assert.match(problem.warning ?? '', /repeated/i);
    assert.ok(problem.suggestions.length > 0);
    assert.match(problem.message, /too easy to guess/);
  });

  it('accepts passphrases and random 16-character strings', () => {
    assert.equal(check(checker, 'Correct-Horse-Battery-Staple-42'), null);
    assert.equal(check(checker, 'tangerine glacier sofa whistle'), null);
    for (const password of randomStrings(16, 20, 16)) assert.equal(check(checker, password), null, password);
  });
});

describe('personal information', () => {
  const alice = { email: 'alice.smith@example.com', name: 'Alice Smith', orgName: 'Initech' };

  it('rejects the email local part, the whole email, the name and the org name, in any case', () => {
    const cases: [string, string][] = [
      ['alice.smith-2024!!', 'email'],
      ['ALICE.SMITH-Glacier-7', 'email'],
      ['me:alice.smith@example.com', 'email'],
      ['Glacier-alice smith-7', 'name'],
      ['initech-Vault-2024!', 'orgName'],
    ];
    for (const [password, field] of cases) {
      const problem = expectRule(checker, password, 'contains_personal_info', alice);
      assert.ok(problem.rule === 'contains_personal_info');
      assert.equal(problem.field, field, password);
      assert.doesNotMatch(problem.message, /alice|initech/i, 'the message names the kind of data, not the data');
    }
  });

  it('ignores fragments shorter than 3 characters', () => {
    const context = { email: 'jo@example.com', name: 'Al', orgName: 'IT' };
    assert.equal(check(checker, 'jo-al-it-Glacier7Sofa-Whistle', context), null);
  });

  it('penalizes variants through zxcvbn user inputs, without leaking them into the next check', () => {
    const zorblatt = { name: 'Zorblatt' };
    // Reversed, so the literal-substring rule does not fire: only zxcvbn can see it.
    expectRule(checker, 'Ttalbroz2024!', 'too_weak', zorblatt);
    assert.equal(check(checker, 'Ttalbroz2024!', {}), null);
    expectRule(checker, 'Ttalbroz2024!', 'too_weak', zorblatt);
  });
});

describe('character classes', () => {
  const threeClasses = new PasswordChecker(parsePasswordPolicy({ requireClasses: 3 }));

  it('rejects an all-lowercase random string as missing_classes, listing what is missing', () => {
    const problem = expectRule(threeClasses, 'kxqvbnmzrtplwhgd', 'missing_classes');
    assert.ok(problem.rule === 'missing_classes');
    assert.equal(problem.required, 3);
    assert.deepEqual(problem.missing, ['uppercase', 'digit', 'symbol']);
    assert.equal(check(threeClasses, 'kxqvBnmz-rtpl7whgd'), null);
  });

  it('does not count a combining accent as a symbol', () => {
    const twoClasses = new PasswordChecker(parsePasswordPolicy({ requireClasses: 2 }));
    expectRule(twoClasses, 'de\u0301re\u0300glemente\u0301s', 'missing_classes');
  });
});

describe('length counts Unicode code points', () => {
  it('counts 12 emoji as 12 characters, not 24 UTF-16 units', () => {
    const twelve = DISTINCT_EMOJI.join('');
    assert.equal(twelve.length, 24);
    assert.equal(check(checker, twelve), null);
    // With UTF-16 units, 11 emoji (22 units) would pass a 12-character minimum.
    expectRule(checker, DISTINCT_EMOJI.slice(0, 11).join(''), 'too_short');
  });

  it('counts 256 emoji as 256 characters against the maximum', () => {
    const emoji = Array.from({ length: 256 }, (_, i) => String.fromCodePoint(0x1f600 + (i % 64))).join('');
    assert.notEqual(check(checker, emoji)?.rule, 'too_long');
    expectRule(checker, emoji + '🚀', 'too_long');
  });

  it('counts each combining mark as a code point (NIST SP 800-63B), so 6 accented letters are 12', () => {
    const decomposed = 'e\u0301a\u0300o\u0302u\u0308i\u0301n\u0303';
    assert.equal([...decomposed].length, 12);
    assert.notEqual(check(checker, decomposed)?.rule, 'too_short');
    expectRule(checker, decomposed.slice(0, -1), 'too_short');
  });
});

describe('parsePasswordPolicy', () => {
  it('fills in the defaults', () => {
    assert.deepEqual(parsePasswordPolicy({}), { minLength: 12, maxLength: 256, requireClasses: 0, minScore: 3 });
    assert.deepEqual(parsePasswordPolicy({ minLength: undefined }), parsePasswordPolicy({}));
  });

  it('accepts values at the bounds', () => {
    const policy = { minLength: 8, maxLength: 8, requireClasses: 4, minScore: 0 } as const;
    assert.deepEqual(parsePasswordPolicy(policy), policy);
    assert.equal(parsePasswordPolicy({ minLength: 256, minScore: 4 }).minLength, 256);
  });

  it('rejects out-of-bounds values, naming the field', () => {
    const bad: [Partial<PasswordPolicy>, RegExp][] = [
      [{ minLength: 7 }, /minLength/],
      [{ minLength: 257 }, /minLength/],
      [{ minLength: 12.5 }, /minLength/],
      [{ minLength: Number.NaN }, /minLength/],
      [{ minLength: '12' as unknown as number }, /minLength/],
      [{ maxLength: 257 }, /maxLength/],
      [{ minLength: 20, maxLength: 16 }, /maxLength/],
      [{ requireClasses: -1 }, /requireClasses/],
      [{ requireClasses: 5 }, /requireClasses/],
      [{ minScore: 5 as never }, /minScore/],
      [{ minScore: -1 as never }, /minScore/],
      [{ minLenght: 10 } as Partial<PasswordPolicy>, /minLenght/],
    ];
    for (const [partial, field] of bad) {
      assert.throws(() => parsePasswordPolicy(partial), (err: unknown) => err instanceof Error && field.test(err.message), JSON.stringify(partial));
    }
  });

  it('is applied by the PasswordChecker constructor', () => {
    assert.throws(() => new PasswordChecker({ ...DEFAULT_PASSWORD_POLICY, maxLength: 1000 }), /maxLength/);
  });
});

describe('long inputs', () => {
  it('checks 20 random 256-character passwords to completion', () => {
    // Only that it finishes: zxcvbn scores a 100-code-point prefix, so this does not hang.
    for (const password of randomStrings(256, 20, 256)) assert.equal(check(checker, password), null);
  });
});
