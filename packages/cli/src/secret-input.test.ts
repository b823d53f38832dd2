import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError, UsageError } from './errors.js';
import { checkSecretKey, decodeUtf8, parseAssignment, rejectDuplicateKeys } from './secret-input.js';
import { stripOneTrailingNewline } from './stdin.js';

test('KEY=VALUE splits at the first =, so values may hold more', () => {
  assert.deepEqual(parseAssignment('A=b=c=='), { key: 'A', value: 'b=c==' });
  assert.deepEqual(parseAssignment('EMPTY='), { key: 'EMPTY', value: '' });
  assert.deepEqual(parseAssignment('ML=a\nb'), { key: 'ML', value: 'a\nb' });
  assert.throws(() => parseAssignment('NOVALUE'), UsageError);
  assert.throws(() => parseAssignment('=x'), UsageError);
});

test('keys follow the server rule, and the error never shows the value', () => {
  for (const good of ['A', '_', 'A_1', '_PRIVATE', 'X'.repeat(256)]) assert.equal(checkSecretKey(good), good);
  for (const bad of ['a', '1A', 'A-B', 'A.B', '', 'X'.repeat(257), 'É']) {
    assert.throws(() => checkSecretKey(bad), (error: unknown) => error instanceof CliError && error.code === 'invalid_secret_key', bad);
  }
  assert.throws(() => parseAssignment('bad=hunter2'), (error: unknown) => !(error as Error).message.includes('hunter2'));
});

test('duplicate keys are refused', () => {
  assert.doesNotThrow(() => rejectDuplicateKeys(['A', 'B']));
  assert.throws(() => rejectDuplicateKeys(['A', 'B', 'A']), /A is given twice/);
});

test('input must be UTF-8; a BOM is kept as part of the value', () => {
  assert.equal(decodeUtf8(Buffer.from('é😀'), 'x'), 'é😀');
  assert.equal(decodeUtf8(Buffer.from('\ufeffa'), 'x'), '\ufeffa');
  assert.throws(() => decodeUtf8(Buffer.from([0xff, 0xfe]), 'file.txt'), /file\.txt is not UTF-8/);
});

test('--password-stdin drops exactly one trailing newline', () => {
  assert.equal(stripOneTrailingNewline('pw\n'), 'pw');
  assert.equal(stripOneTrailingNewline('pw\r\n'), 'pw');
  assert.equal(stripOneTrailingNewline('pw\n\n'), 'pw\n');
  assert.equal(stripOneTrailingNewline('pw'), 'pw');
  assert.equal(stripOneTrailingNewline(' pw \n'), ' pw ');
});
