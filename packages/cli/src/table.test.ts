import { test } from 'node:test';
import assert from 'node:assert/strict';
import { table, when } from './table.js';

test('columns are aligned, the last one is not padded', () => {
  assert.equal(table(['KEY', 'V'], [['A', '1'], ['LONGER', '22']]), 'KEY     V\nA       1\nLONGER  22');
  assert.equal(table(['KEY'], []), '');
});

test('cells with line breaks are shown escaped so rows stay one line', () => {
  assert.equal(table(['K', 'VALUE'], [['A', 'x\ny']]), 'K  VALUE\nA  "x\\ny"');
});

test('times are shortened, missing ones shown as -', () => {
  assert.equal(when('2024-05-01T10:00:00.123Z'), '2024-05-01 10:00:00Z');
  assert.equal(when(null), '-');
});
