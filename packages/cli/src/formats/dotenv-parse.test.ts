import { test } from 'node:test';
import assert from 'node:assert/strict';
import dotenv from 'dotenv';
import { parseDotenv } from './dotenv-parse.js';
import { randomSeed, randomValue, seededRandom } from './random.test-util.js';

const HAND_WRITTEN = `
# a comment
BASIC=basic
export EXPORTED=yes
SPACED = spaced value   
EMPTY=
EMPTY_QUOTES=""
SINGLE='single # not a comment'
DOUBLE="double\\nnewline"
BACKTICK=\`has 'single' and "double"\`
INLINE=value # comment
MULTI="line 1
line 2"
MULTI_SINGLE='a
b'
EQUALS=a=b=c
YAML_STYLE: colon
DOTTED.KEY=dots
dashed-key=dash
lower=case
DUP=first
DUP=second
HASH_NO_SPACE=abc#def
RETAIN_INNER="inner "quotes" kept"
`;

test('parses a hand-written file as dotenv does, with both of its parsers', () => {
  const ours = Object.fromEntries(parseDotenv(HAND_WRITTEN));
  assert.deepEqual(ours, { ...dotenv.parse(HAND_WRITTEN) });
  assert.deepEqual(ours, { ...dotenv.parse(HAND_WRITTEN, { fast: true }) });
  assert.equal(ours.DUP, 'second');
  assert.equal(ours.MULTI, 'line 1\nline 2');
});

test('keeps file order and a repeated key keeps its first position', () => {
  assert.deepEqual([...parseDotenv('B=1\nA=2\nB=3\n')], [['B', '3'], ['A', '2']]);
});

test('CRLF files read like LF files', () => {
  assert.deepEqual(Object.fromEntries(parseDotenv('A=1\r\nB="x\r\ny"\r\n')), { A: '1', B: 'x\ny' });
});

test('agrees with dotenv fast parser on random files', () => {
  const random = seededRandom(randomSeed());
  const lineStarts = ['', 'export ', '# ', ' ', 'KEY=', 'A_1 = ', 'B:', 'C: ', 'x.y-z=', '=', 'D=\n', '\n'] as const;
  for (let round = 0; round < 3000; round++) {
    let text = '';
    const lines = 1 + random.int(6);
    for (let i = 0; i < lines; i++) text += `${random.pick(lineStarts)}${randomValue(random, 6)}\n`;
    const expected = { ...dotenv.parse(text, { fast: true }) };
    assert.deepEqual(Object.fromEntries(parseDotenv(text)), expected, `seed ${random.seed}: ${JSON.stringify(text)}`);
  }
});
