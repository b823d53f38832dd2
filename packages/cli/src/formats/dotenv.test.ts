import { test } from 'node:test';
import assert from 'node:assert/strict';
import dotenv from 'dotenv';
import { encodeValue, formatDotenv } from './dotenv.js';
import { parseDotenv } from './dotenv-parse.js';
import { UnrepresentableValueError, type ExportEntry } from './entry.js';
import { randomSeed, randomValue, seededRandom } from './random.test-util.js';

/** Every reader a user might load the file with: dotenv's two parsers and our own import parser. */
function readBack(text: string): Array<[string, Record<string, string>]> {
  return [
    ['dotenv.parse', { ...dotenv.parse(text) }],
    ['dotenv.parse fast', { ...dotenv.parse(text, { fast: true }) }],
    ['keynest parseDotenv', Object.fromEntries(parseDotenv(text))],
  ];
}

function assertRoundTrip(entries: ExportEntry[], note = ''): void {
  const text = formatDotenv(entries);
  const expected = Object.fromEntries(entries.map(({ key, value }) => [key, value]));
  for (const [reader, parsed] of readBack(text)) {
    assert.deepEqual(parsed, expected, `${reader} read back a different value ${note}\n${JSON.stringify(text)}`);
  }
}

const NASTY_VALUES = [
  '',
  'plain',
  'line one\nline two\n',
  '\nstarts with a newline',
  'say "hi"',
  "it's",
  'back`tick',
  'C:\\dir\\',
  'ends with backslash \\',
  'literal \\n is not a newline',
  'literal \\r and \\t',
  '"\\n"',
  'both \'single\' and "double"',
  'all three \' " `',
  'all three \' " ` and a newline\n',
  'hash # inside',
  '#starts with hash',
  'dollar $HOME ${OTHER} $${literal}',
  'a=b=c',
  '==',
  'unicode é 日本 😀',
  '  leading and trailing spaces  ',
  '\ttabs\t',
  'carriage\rreturn',
  'crlf\r\nline',
  'line\u2028separator\u2029paragraph',
  '"quoted"',
  "'quoted'",
  '`quoted`',
  '\\',
  '\\\\',
  "\\'",
  'x\\"',
  'KEY=value\nOTHER=injected',
  '-----BEGIN PRIVATE KEY-----\nMIIB\\nIjAN\n-----END PRIVATE KEY-----\n',
  '{"json": "value", "n": 1}',
  'export NOT_A_KEY=1',
  ' ',
  '\n',
  "'\n\"\n`",
];

test('dotenv export reads back exactly, one value per file', () => {
  for (const value of NASTY_VALUES) assertRoundTrip([{ key: 'VALUE', value }], `for ${JSON.stringify(value)}`);
});

test('dotenv export reads back exactly with all nasty values in one file', () => {
  assertRoundTrip(NASTY_VALUES.map((value, i) => ({ key: `KEY_${i}`, value })));
});

test('values without quotes of every kind are always written', () => {
  assert.doesNotThrow(() => formatDotenv([{ key: 'A', value: '\'"\n#\\n' }]));
  assert.doesNotThrow(() => formatDotenv([{ key: 'A', value: '`"\n#\\r\\' }]));
  assert.doesNotThrow(() => formatDotenv([{ key: 'A', value: '\'"\n$\\' }]));
});

test('a value dotenv cannot hold is refused with an error naming the key, not the value', () => {
  const secret = 'a\'b"c`d#e';
  assert.throws(
    () => formatDotenv([{ key: 'OK', value: 'fine' }, { key: 'TRICKY', value: secret }]),
    (error: unknown) => {
      assert.ok(error instanceof UnrepresentableValueError);
      assert.equal(error.key, 'TRICKY');
      assert.match(error.message, /TRICKY/);
      assert.ok(!error.message.includes(secret));
      return true;
    },
  );
});

test('dotenv export round-trips random values, or refuses them', () => {
  const random = seededRandom(randomSeed());
  let refused = 0;
  const total = 3000;
  for (let round = 0; round < total; round++) {
    const entries = Array.from({ length: 1 + random.int(4) }, (_, i) => ({ key: `K${i}`, value: randomValue(random, 8) }));
    try {
      formatDotenv(entries);
    } catch (error) {
      assert.ok(error instanceof UnrepresentableValueError, `seed ${random.seed}: ${String(error)}`);
      const value = entries.find((e) => e.key === error.key)!.value;
      // Only a value with no self-contained quoting may be refused, and only because of what follows it.
      assert.equal(encodeValue(value), null, `seed ${random.seed}: refused ${JSON.stringify(value)}`);
      refused++;
      continue;
    }
    assertRoundTrip(entries, `(seed ${random.seed}, round ${round})`);
  }
  assert.ok(refused < total / 4, `seed ${random.seed}: refused ${refused} of ${total}`);
});

test('a lone value is refused only when no quote kind can hold it', () => {
  const random = seededRandom(randomSeed());
  for (let round = 0; round < 3000; round++) {
    const value = randomValue(random, 10);
    try {
      assertRoundTrip([{ key: 'ONLY', value }], `(seed ${random.seed})`);
    } catch (error) {
      assert.ok(error instanceof UnrepresentableValueError, `seed ${random.seed}: ${String(error)}`);
      for (const quote of ["'", '`']) {
        const quoteUnusable = value.includes(quote) || value.includes('\r');
        assert.ok(quoteUnusable, `seed ${random.seed}: refused ${JSON.stringify(value)}`);
      }
    }
  }
});
